package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/podboot/podboot/pkg/podmgr"
)

// decodeHosts reads the bulk import body {"hosts": [...]} as a stream: one host's JSON
// is held at a time (checked as strictly as any body), so a large import costs the hosts
// it carries, not copies of the whole body. The body is bounded by limit.
func decodeHosts(w http.ResponseWriter, r *http.Request, limit int64) ([]podmgr.Host, bool) {
	// The body is decoded as it arrives, so a server busy with a large import reads it
	// slowly: the deadline moves on while bytes keep coming (StreamBody), as for uploads.
	hosts, err := streamHosts(StreamBody(w, r, http.MaxBytesReader(w, r.Body, limit)))
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			w.Header().Set("Connection", "close")
			WriteError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("request body is larger than %d bytes (api.maxBulkBodyBytes)", mbe.Limit))
		case errors.Is(err, errBodyRead):
			w.Header().Set("Connection", "close")
			WriteError(w, http.StatusRequestTimeout, errors.New("request body did not arrive in time"))
		default:
			WriteError(w, http.StatusBadRequest, fmt.Errorf("request body is not valid JSON for this endpoint: %v", err))
		}
		return nil, false
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	return hosts, true
}

var errBodyRead = errors.New("reading the body")

// bodyReader marks read errors, so that they are told apart from bad JSON.
type bodyReader struct{ r io.Reader }

func (b bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		var mbe *http.MaxBytesError
		if !errors.As(err, &mbe) {
			err = fmt.Errorf("%w: %w", errBodyRead, err)
		}
	}
	return n, err
}

func streamHosts(r io.Reader) ([]podmgr.Host, error) {
	dec := json.NewDecoder(bodyReader{r})
	if err := expectDelim(dec, '{'); err != nil {
		return nil, err
	}
	var hosts []podmgr.Host
	seen := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		switch {
		case key == "hosts" && seen:
			return nil, errors.New(`key "hosts" appears twice`)
		case key != "hosts" && strings.EqualFold(key, "hosts"):
			return nil, fmt.Errorf(`key %s: field names are case-sensitive, did you mean "hosts"?`, Quote(key))
		case key != "hosts":
			return nil, fmt.Errorf("unknown field %s", Quote(key))
		}
		seen = true
		if hosts, err = streamHostList(dec); err != nil {
			return nil, err
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if errors.Is(err, errBodyRead) {
			return nil, err
		}
		return nil, errors.New("data after the JSON value: send exactly one object")
	}
	return hosts, nil
}

// streamHostList reads the value of "hosts": null or an array of hosts.
func streamHostList(dec *json.Decoder) ([]podmgr.Host, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if tok == nil {
		return nil, nil
	}
	if tok != json.Delim('[') {
		return nil, errors.New(`"hosts" must be an array`)
	}
	var hosts []podmgr.Host
	for i := 0; dec.More(); i++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		var h podmgr.Host
		if err := StrictUnmarshal(raw, &h); err != nil {
			return nil, fmt.Errorf("hosts[%d]: %w", i, err)
		}
		hosts = append(hosts, h)
	}
	return hosts, expectDelim(dec, ']')
}

func expectDelim(dec *json.Decoder, d json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != d {
		return fmt.Errorf("expected %q", d)
	}
	return nil
}
