package main

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/podboot/podboot/pkg/bmc"
	"github.com/podboot/podboot/pkg/podmgr"
)

// csvColumns are the columns host import understands; each row needs mac or serial.
func csvColumns() []string {
	return []string{"mac", "serial", "pod", "hostname", "ip", "mgmt_ip", "profile",
		"bmc_driver", "bmc_address", "bmc_port", "bmc_user", "bmc_password_file", "bmc_insecure_tls", "bmc_ca_cert"}
}

const utf8BOM = "\ufeff"

// importPlan is a host CSV read and checked: hosts to register (rows with a mac),
// discovered hosts to accept (rows with a serial), and the BMCs of either, with their
// passwords already read from the password files the rows name.
type importPlan struct {
	Hosts   []podmgr.Host
	Serials []podmgr.SerialAccept
	// BMCs by the row's MAC, or by its serial for rows keyed by serial.
	BMCByMAC, BMCBySerial map[string]bmc.Settings
}

// readHostsCSV parses a host CSV with a header row; defaultPod fills an empty pod column.
// A UTF-8 byte order mark (what spreadsheets write) before the header is skipped.
// Relative bmc_password_file and bmc_ca_cert paths are relative to dir (the CSV's).
func readHostsCSV(r io.Reader, defaultPod, dir string) (importPlan, error) {
	plan := importPlan{BMCByMAC: map[string]bmc.Settings{}, BMCBySerial: map[string]bmc.Settings{}}
	br := bufio.NewReader(r)
	if b, err := br.Peek(len(utf8BOM)); err == nil && string(b) == utf8BOM {
		_, _ = br.Discard(len(utf8BOM))
	}
	cr := csv.NewReader(br)
	cr.TrimLeadingSpace = true
	cr.Comment = '#'
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return plan, errors.New("the CSV is empty: the first line must be a header such as mac,pod,hostname,ip,mgmt_ip,profile")
	}
	if err != nil {
		return plan, fmt.Errorf("read CSV header: %w", err)
	}
	col, err := csvHeader(header)
	if err != nil {
		return plan, err
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return plan, fmt.Errorf("read CSV: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if err := plan.add(rec, get, defaultPod, dir); err != nil {
			return plan, fmt.Errorf("CSV line %d: %w", line, err)
		}
	}
	if len(plan.Hosts)+len(plan.Serials) == 0 {
		return plan, errors.New("the CSV has a header but no hosts")
	}
	return plan, nil
}

func csvHeader(header []string) (map[string]int, error) {
	col := map[string]int{}
	for i, name := range header {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "bmc_password" || name == "password" {
			return nil, fmt.Errorf("CSV header column %q: passwords never go into a CSV (it is copied, mailed and echoed); name a file holding it in bmc_password_file", name)
		}
		known := false
		for _, c := range csvColumns() {
			known = known || c == name
		}
		if !known {
			return nil, fmt.Errorf("CSV header column %q is unknown: use %s", name, strings.Join(csvColumns(), ","))
		}
		if j, dup := col[name]; dup {
			return nil, fmt.Errorf("CSV header names column %q twice (columns %d and %d): which one holds the value?", name, j+1, i+1)
		}
		col[name] = i
	}
	_, mac := col["mac"]
	_, serial := col["serial"]
	if !mac && !serial {
		return nil, errors.New("CSV header has no mac or serial column")
	}
	return col, nil
}

func (plan *importPlan) add(rec []string, get func([]string, string) string, defaultPod, dir string) error {
	mac, serial := get(rec, "mac"), get(rec, "serial")
	pod := firstNonEmpty(get(rec, "pod"), defaultPod)
	b, err := csvBMC(rec, get, dir)
	if err != nil {
		return err
	}
	switch {
	case mac != "" && serial != "":
		return errors.New("give mac (register the host) or serial (accept the discovered host that reported it), not both")
	case serial != "":
		if get(rec, "ip") != "" {
			return errors.New("a row keyed by serial accepts a discovered host, which keeps its DHCP provisioning address: put the management address in mgmt_ip (as host accept --ip)")
		}
		if _, dup := plan.BMCBySerial[serial]; dup && b != nil {
			return fmt.Errorf("serial %s: a second row with a BMC", serial)
		}
		plan.Serials = append(plan.Serials, podmgr.SerialAccept{Serial: serial, Pod: get(rec, "pod"), Hostname: get(rec, "hostname"), ManagementIP: get(rec, "mgmt_ip"), Profile: get(rec, "profile")})
		if b != nil {
			plan.BMCBySerial[serial] = *b
		}
		return nil
	case mac == "":
		return errors.New("no mac and no serial")
	}
	if pod == "" {
		return errors.New("no pod: add a pod column or pass --pod")
	}
	plan.Hosts = append(plan.Hosts, podmgr.Host{MAC: mac, Pod: pod, Hostname: get(rec, "hostname"),
		ProvisioningIP: get(rec, "ip"), ManagementIP: get(rec, "mgmt_ip"), Profile: get(rec, "profile")})
	if b != nil {
		norm, err := podmgr.NormalizeMAC(mac)
		if err != nil {
			return err
		}
		plan.BMCByMAC[norm] = *b
	}
	return nil
}

// csvBMC reads a row's bmc_* columns; nil when none is set. bmc_address is required;
// driver, user and password file may be left to the pod's BMC defaults.
func csvBMC(rec []string, get func([]string, string) string, dir string) (*bmc.Settings, error) {
	if get(rec, "bmc_address") == "" {
		for _, c := range csvColumns() {
			if strings.HasPrefix(c, "bmc_") && get(rec, c) != "" {
				return nil, fmt.Errorf("%s is set but bmc_address is empty", c)
			}
		}
		return nil, nil
	}
	s := bmc.Settings{Driver: podmgr.BMCDriver(get(rec, "bmc_driver")), Address: get(rec, "bmc_address"), User: get(rec, "bmc_user")}
	if p := get(rec, "bmc_port"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("bmc_port %q: want a number", p)
		}
		s.Port = n
	}
	if v := get(rec, "bmc_insecure_tls"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("bmc_insecure_tls %q: want true or false", v)
		}
		s.InsecureTLS = b
	}
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	switch pwFile := get(rec, "bmc_password_file"); pwFile {
	case "": // the pod's default password
	case "-":
		return nil, errors.New("bmc_password_file: name the file holding the BMC password (one CSV row cannot read standard input)")
	default:
		pw, err := readSecretFile(rel(pwFile), nil)
		if err != nil {
			return nil, fmt.Errorf("bmc_password_file: %w", err)
		}
		s.Password = pw
	}
	if ca := get(rec, "bmc_ca_cert"); ca != "" {
		b, err := os.ReadFile(rel(ca))
		if err != nil {
			return nil, fmt.Errorf("bmc_ca_cert: %w", err)
		}
		s.CACert = string(b)
	}
	return &s, nil
}
