package bmc

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
)

// TestRedfishDriver drives the DMTF-mockup Redfish fixture over HTTPS: power state,
// each power action maps to an allowed ResetType, boot override PATCH, and refusals
// are sorted into auth / unsupported.
func TestRedfishDriver(t *testing.T) {
	ctx := context.Background()
	fx := testutil.StartRedfishBMC(t, "admin", "s3cret")
	rf, err := newRedfish(Endpoint{Address: fx.Host, Port: fx.Port, User: "admin", Password: "s3cret", CACert: fx.CACert, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := rf.PowerState(ctx); err != nil || st != StateOn {
		t.Fatalf("power state: %v %v, want on", st, err)
	}
	for _, tc := range []struct {
		act  PowerAction
		want []string
	}{
		{PowerOff, []string{"Reset ForceOff"}},
		{PowerOn, []string{"Reset On"}},
		{PowerReset, []string{"Reset ForceRestart"}},
		{PowerCycle, []string{"Reset ForceOff", "Reset On"}}, // the mockup has no PowerCycle
		{PowerSoft, []string{"Reset GracefulShutdown"}},
	} {
		before := len(fx.Actions())
		if err := rf.Power(ctx, tc.act); err != nil {
			t.Fatalf("power %s: %v", tc.act, err)
		}
		if got := fx.Actions()[before:]; !slices.Equal(got, tc.want) {
			t.Fatalf("power %s: BMC saw %v, want %v", tc.act, got, tc.want)
		}
	}
	if st, _ := rf.PowerState(ctx); st != StateOff {
		t.Fatalf("after soft off the state is %s", st)
	}
	if err := rf.SetBootDevice(ctx, BootPXE, true, true); err != nil {
		t.Fatal(err)
	}
	if got := fx.Actions(); got[len(got)-1] != "Boot Pxe Once UEFI" {
		t.Fatalf("boot override: %v", got)
	}
	if err := rf.SetBootDevice(ctx, BootHTTP, true, true); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("http boot on a BMC without UefiHttp: %v, want unsupported", err)
	}

	bad, _ := newRedfish(Endpoint{Address: fx.Host, Port: fx.Port, User: "admin", Password: "wrong", CACert: fx.CACert})
	if _, err := bad.PowerState(ctx); !errors.Is(err, ErrAuth) {
		t.Fatalf("wrong password: %v, want auth failed", err)
	}
	untrusted, _ := newRedfish(Endpoint{Address: fx.Host, Port: fx.Port, User: "admin", Password: "s3cret"})
	if _, err := untrusted.PowerState(ctx); err == nil || !strings.Contains(err.Error(), "not trusted") {
		t.Fatalf("unverified certificate: %v, want a 'not trusted' error", err)
	}
}

// TestRedfishUnreachable: a BMC that does not answer fails within the timeout as
// unreachable.
func TestRedfishUnreachable(t *testing.T) {
	port := testutil.FreeTCPPort(t)
	rf, _ := newRedfish(Endpoint{Address: "127.0.0.1", Port: port, User: "a", Password: "b", InsecureTLS: true, Timeout: 3 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	_, err := rf.PowerState(ctx)
	if !errors.Is(err, ErrUnreachable) || time.Since(start) > 4*time.Second {
		t.Fatalf("closed port: %v after %v, want unreachable within the timeout", err, time.Since(start))
	}
}

// TestIPMIDriver speaks RMCP+ (cipher suite 3) to OpenIPMI's ipmi_sim: status, power
// actions and boot device arrive at the chassis; a wrong password is "auth failed"; a
// port with no BMC is "unreachable" within the timeout.
func TestIPMIDriver(t *testing.T) {
	ctx := context.Background()
	sim := testutil.StartIPMISim(t, "127.0.0.1", "password")
	b := ipmiBMC{Endpoint{Address: "127.0.0.1", Port: sim.Port, User: "admin", Password: "password"}}
	var st PowerState
	testutil.WaitFor(t, 10*time.Second, "ipmi_sim to answer", func() bool {
		var err error
		st, err = b.PowerState(ctx)
		return err == nil
	})
	if st != StateOff {
		t.Fatalf("power state %s, want off", st)
	}
	if err := b.SetBootDevice(ctx, BootPXE, true, true); err != nil {
		t.Fatal(err)
	}
	// Interop: ipmitool reads back the boot device podboot set.
	if ipmitool, err := exec.LookPath("ipmitool"); err == nil {
		out, err := exec.CommandContext(ctx, ipmitool, "-I", "lanplus", "-C", "3", "-H", "127.0.0.1", "-p", strconv.Itoa(sim.Port),
			"-U", "admin", "-P", "password", "chassis", "bootparam", "get", "5").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Force PXE") {
			t.Fatalf("ipmitool chassis bootparam get 5: %v\n%s", err, out)
		}
	} else {
		t.Log("SKIPPED interop check: ipmitool not installed")
	}
	if err := b.Power(ctx, PowerOn); err != nil {
		t.Fatal(err)
	}
	if st, err := b.PowerState(ctx); err != nil || st != StateOn {
		t.Fatalf("after on: %v %v", st, err)
	}
	if err := b.Power(ctx, PowerReset); err != nil {
		t.Fatal(err)
	}
	if got, want := sim.Log(), []string{"boot_pxe", "power_1", "reset"}; !slices.Equal(got, want) {
		t.Fatalf("chassis saw %v, want %v", got, want)
	}
	if err := b.SetBootDevice(ctx, BootHTTP, true, true); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("http boot over ipmi: %v, want unsupported", err)
	}

	wrong := ipmiBMC{Endpoint{Address: "127.0.0.1", Port: sim.Port, User: "admin", Password: "wrong"}}
	if _, err := wrong.PowerState(ctx); !errors.Is(err, ErrAuth) {
		t.Fatalf("wrong password: %v, want auth failed", err)
	}
	none := ipmiBMC{Endpoint{Address: "127.0.0.1", Port: testutil.FreeUDPPort(t), User: "admin", Password: "password"}}
	tctx, cancel := context.WithTimeout(ctx, 8*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := none.PowerState(tctx); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("no BMC: %v after %v, want unreachable", err, time.Since(start))
	}
	t.Logf("unreachable reported after %v", time.Since(start).Round(time.Millisecond))
}

// TestIPMISilentBMC: a BMC that takes the packets and never answers (a lost link, a
// hung BMC) is reported unreachable within the operation's deadline.
func TestIPMISilentBMC(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	b := ipmiBMC{Endpoint{Address: "127.0.0.1", Port: pc.LocalAddr().(*net.UDPAddr).Port, User: "admin", Password: "password"}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	_, err = b.PowerState(ctx)
	took := time.Since(start)
	if !errors.Is(err, ErrUnreachable) || took > 7*time.Second {
		t.Fatalf("silent BMC: %v after %v, want unreachable", err, took)
	}
	t.Logf("silent BMC reported unreachable after %v: %v", took.Round(time.Millisecond), err)
}

// TestRedfishVirtualMedia inserts and ejects an ISO on the virtual CD in both layouts:
// VirtualMedia under the System (current DMTF mockup) and under the Manager (older).
// The mockup's CD holds a medium at start, so insert ejects it first.
func TestRedfishVirtualMedia(t *testing.T) {
	for _, layout := range []string{"system", testutil.RedfishManagerMedia} {
		t.Run(layout, func(t *testing.T) {
			ctx := context.Background()
			fx := testutil.StartRedfishBMC(t, "admin", "pw", layout)
			rf, _ := newRedfish(Endpoint{Address: fx.Host, Port: fx.Port, User: "admin", Password: "pw", CACert: fx.CACert})
			const iso = "https://198.51.100.10:8443/media/host.iso"
			if err := rf.InsertMedia(ctx, iso); err != nil {
				t.Fatal(err)
			}
			if err := rf.EjectMedia(ctx); err != nil {
				t.Fatal(err)
			}
			if err := rf.EjectMedia(ctx); err != nil {
				t.Fatalf("eject of an empty drive: %v", err)
			}
			want := []string{"EjectMedia CD1", "InsertMedia CD1 " + iso, "EjectMedia CD1"}
			if got := fx.Actions(); !slices.Equal(got, want) {
				t.Fatalf("BMC saw %v, want %v", got, want)
			}
		})
	}
}

// TestRedfishFixtureRefuses: what a real BMC refuses, the fixture refuses with a
// Redfish error body, and the client names it: a ResetType the system does not allow,
// an ISO into a floppy/USB device.
func TestRedfishFixtureRefuses(t *testing.T) {
	ctx := context.Background()
	fx := testutil.StartRedfishBMC(t, "admin", "pw")
	rf, _ := newRedfish(Endpoint{Address: fx.Host, Port: fx.Port, User: "admin", Password: "pw", CACert: fx.CACert})
	err := rf.reset(ctx, "/redfish/v1/Systems/437XR1138R2/Actions/ComputerSystem.Reset", nil, []string{"PowerCycle"})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "ActionParameterNotSupported") {
		t.Fatalf("unknown ResetType: %v", err)
	}
	err = rf.do(ctx, "POST", "/redfish/v1/Systems/437XR1138R2/VirtualMedia/Floppy1/Actions/VirtualMedia.InsertMedia", map[string]any{"Image": "https://198.51.100.10/x.iso"}, nil)
	if err == nil || !strings.Contains(err.Error(), "ActionParameterValueConflict") {
		t.Fatalf("ISO into a floppy: %v", err)
	}
	patch := map[string]any{"Boot": map[string]string{"BootSourceOverrideTarget": "Pxe"}}
	if _, err := rf.doETag(ctx, "PATCH", "/redfish/v1/Systems/437XR1138R2", "", patch, nil); err == nil || !strings.Contains(err.Error(), "PreconditionRequired") {
		t.Fatalf("PATCH without If-Match: %v", err)
	}
	if _, err := rf.doETag(ctx, "PATCH", "/redfish/v1/Systems/437XR1138R2", `W/"stale"`, patch, nil); err == nil || !strings.Contains(err.Error(), "PreconditionFailed") {
		t.Fatalf("PATCH with a stale ETag: %v", err)
	}
	if len(fx.Actions()) != 0 {
		t.Fatalf("refused requests were recorded as done: %v", fx.Actions())
	}
}

// TestRedfishSessions: the client opens one session, sends its token instead of the
// password, and deletes it on close; a BMC without sessions gets Basic auth; a wrong
// password is refused at login as an auth failure.
func TestRedfishSessions(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name               string
		opts               []string
		pass               string
		wantOpened, wantOp int
		wantErr            error
	}{
		{name: "session", pass: "s3cret", wantOpened: 1},
		{name: "no SessionService: basic auth", opts: []string{testutil.RedfishNoSessions}, pass: "s3cret"},
		{name: "wrong password", pass: "wrong", wantErr: ErrAuth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := testutil.StartRedfishBMC(t, "admin", "s3cret", tc.opts...)
			rf, err := newRedfish(Endpoint{Address: fx.Host, Port: fx.Port, User: "admin", Password: tc.pass, CACert: fx.CACert, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			_, err = rf.PowerState(ctx)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := rf.Power(ctx, PowerOff); err != nil {
				t.Fatal(err)
			}
			if opened, open := fx.Sessions(); opened != tc.wantOpened || open != tc.wantOpened {
				t.Fatalf("sessions opened %d open %d, want %d and %d", opened, open, tc.wantOpened, tc.wantOpened)
			}
			if tc.wantOpened > 0 && rf.authToken == "" {
				t.Fatal("the client holds no session token")
			}
			rf.close(ctx)
			if opened, open := fx.Sessions(); opened != tc.wantOpened || open != 0 {
				t.Fatalf("after close: sessions opened %d open %d, want %d and 0", opened, open, tc.wantOpened)
			}
			if got := fx.Actions(); !slices.Equal(got, []string{"Reset ForceOff"}) {
				t.Fatalf("BMC saw %v", got)
			}
		})
	}
}
