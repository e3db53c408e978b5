// podboot dashboard: the host page's timeline grows live from the server-sent events of
// /ui/hosts/MAC/stream (see pkg/web/stream.go). Nothing else needs a script.
(function () {
  "use strict";
  var table = document.getElementById("timeline");
  if (!table || !window.EventSource) { return; }
  var body = table.tBodies[0];
  var mac = table.dataset.mac;
  var stateEl = document.getElementById("state");
  var reasonEl = document.getElementById("reason");
  var liveEl = document.getElementById("live");
  var netbootEl = document.getElementById("netboot");

  function when(iso) {
    var d = new Date(iso);
    return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  }
  function dur(ms) {
    if (!(ms > 0)) { return ""; }
    if (ms < 1000) { return Math.round(ms) + "ms"; }
    if (ms < 60000) { return (Math.round(ms / 100) / 10) + "s"; }
    var s = Math.round(ms / 1000);
    var m = Math.floor(s / 60);
    return (m >= 60 ? Math.floor(m / 60) + "h" + (m % 60) + "m" : m + "m") + (s % 60) + "s";
  }
  function cell(row, text, cls) {
    var td = row.insertCell();
    if (cls) { td.className = cls; }
    td.textContent = text;
    return td;
  }
  function badge(td, state) {
    var span = document.createElement("span");
    span.className = "state " + state;
    span.textContent = state;
    td.appendChild(span);
  }
  function lastTime() {
    var rows = body.rows;
    return rows.length ? rows[rows.length - 1].dataset.time : null;
  }
  var start = null;
  var lastState = "";
  var progressing = ["offered", "booting", "verified", "installing"];
  // The stage clock restarts where the rendered timeline's attempt began (the rows
  // whose "took" is empty); see timeline in pkg/web/host.go for the rule.
  (function () {
    var rows = body.rows;
    for (var i = 0; i < rows.length; i++) {
      var t = Date.parse(rows[i].cells[0].textContent.replace(" ", "T"));
      rows[i].dataset.time = t;
      if (i === 0 || rows[i].cells[1].textContent === "" && rows[i].cells[2].textContent === "") { start = t; }
      if (rows[i].dataset.state) { lastState = rows[i].dataset.state; }
    }
  })();
  function startsAttempt(state) {
    if (state === "registered" || state === "discovered") { return true; }
    return state === "offered" && progressing.indexOf(lastState) < 0;
  }

  function add(ev) {
    if (body.querySelector('tr[data-seq="' + ev.seq + '"]')) { return; }
    var t = Date.parse(ev.time);
    var prev = lastTime();
    var fresh = start === null || startsAttempt(ev.state);
    if (fresh) { start = t; }
    var row = body.insertRow();
    row.dataset.seq = ev.seq;
    row.dataset.time = t;
    row.className = "new";
    cell(row, when(ev.time));
    cell(row, fresh || prev === null ? "" : dur(t - prev), "n");
    cell(row, dur(t - start), "n");
    cell(row, ev.action);
    var st = cell(row, "");
    if (ev.state) { badge(st, ev.state); }
    cell(row, (ev.source || "") + (ev.actor ? " (" + ev.actor + ")" : ""));
    cell(row, ev.detail || "");
    if (ev.state) { lastState = ev.state; }
    if (ev.hostState && stateEl) {
      stateEl.textContent = ev.hostState;
      stateEl.className = "state " + ev.hostState;
      reasonEl.textContent = ev.hostReason || "";
      netbootEl.textContent = ev.hostNetboot ? "on" : "off";
    }
  }

  var src = new EventSource("/ui/hosts/" + encodeURIComponent(mac) + "/stream?after=" + table.dataset.after);
  src.addEventListener("open", function () { liveEl.hidden = false; });
  src.addEventListener("error", function () { liveEl.hidden = true; });
  src.addEventListener("host", function (m) { add(JSON.parse(m.data)); });
})();
