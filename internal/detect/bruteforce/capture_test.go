package bruteforce

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"picket/internal/detect/detecttest"
	"picket/internal/event"
	"picket/internal/finding"
)

// loadSessions reads testdata/<name>.sessions: SSH connections measured
// from packet captures of real tools (see each file's header), turned
// into the contacts the contact stage makes of them, from an internet
// host to the bastion, starting at t0.
func loadSessions(t *testing.T, name string, t0 float64) []*event.Contact {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name+".sessions"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cs []*event.Contact
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) != 8 {
			t.Fatalf("%s: bad line %q", name, line)
		}
		var v [6]float64
		for i := range v {
			if v[i], err = strconv.ParseFloat(fs[i], 64); err != nil {
				t.Fatalf("%s: bad line %q", name, line)
			}
		}
		start := t0 + v[0]
		c := detecttest.Contact(t, fmt.Sprintf("198.51.100.7:%d > 10.0.0.5:22 tcp established in i-0bastion", 40000+len(cs)))
		c.Start, c.End = event.Time(math.Floor(start)), event.Time(math.Floor(start+v[1]))
		c.Fwd = event.Half{Packets: uint64(v[2]), Bytes: uint64(v[3]), Flags: flagsOf(fs[6]), Records: 1, HasFlags: true}
		c.Rev = event.Half{Packets: uint64(v[4]), Bytes: uint64(v[5]), Flags: flagsOf(fs[7]), Records: 1, HasFlags: true}
		if c.Fwd.Packets > 4 && c.Rev.Packets > 3 {
			c.Outcome = event.OutcomeData
		}
		cs = append(cs, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cs
}

func flagsOf(s string) uint8 {
	var f uint8
	for _, ch := range s {
		switch ch {
		case 'S':
			f |= event.TCPSyn
		case 'A':
			f |= event.TCPAck
		case 'F':
			f |= event.TCPFin
		case 'R':
			f |= event.TCPRst
		}
	}
	return f
}

// TestCaptures runs the detector over SSH sessions measured from real
// tools. checked is how many passwords the server checked (sshd's log:
// failed and accepted). The estimate must reach the threshold and stay within what the
// model promises: about the authentication requests on the wire, so a
// little more than the passwords where a tool sends other requests too
// (medusa asks for keyboard-interactive before each password; hydra
// repeats the password the server cut off at MaxAuthTries), and a
// session that stopped before its first request counts as one. The
// benign captures must stay quiet.
func TestCaptures(t *testing.T) {
	tests := []struct {
		name    string
		checked int64 // 0: benign
	}{
		{"hydra", 67},     // 15 connections of 1, 4 or 6 guesses
		{"medusa", 61},    // 22 connections of 1 or 3 passwords
		{"ncrack", 59},    // 14 connections of 1 to 6 guesses, the one-guess ones last
		{"nmapbrute", 64}, // one guess a connection; MaxStartups turns many away
		{"quickcmd", 0},
		{"sshpass", 0},
		{"backup", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := New(detecttest.Env(nil))
			fs := detecttest.Run(t, d, loadSessions(t, tt.name, 1000)...)
			if tt.checked == 0 {
				if len(fs) != 0 {
					t.Fatalf("benign sessions raised %d findings: %s", len(fs), fs[0].Service.AdditionalInfo.Explanation.Summary)
				}
				return
			}
			if len(fs) != 1 {
				t.Fatalf("%d findings, want 1", len(fs))
			}
			f := fs[0]
			exp := f.Service.AdditionalInfo.Explanation
			t.Logf("count %d: %s; counts %v", f.Service.Count, exp.Summary, exp.Counts)
			if f.Type != finding.TypeSSHBruteForce || f.Service.ResourceRole != finding.RoleTarget {
				t.Errorf("%s %s", f.Type, f.Service.ResourceRole)
			}
			if g := exp.Counts["guesses_to_target"]; g < tt.checked*6/10 || g > tt.checked*135/100 {
				t.Errorf("estimated %d guesses for %d passwords checked", g, tt.checked)
			}
			if f.Service.Count != exp.Counts["guesses_to_target"]+exp.Counts["preauth_sessions"] && f.Service.Count != exp.Counts["guesses_to_target"] {
				t.Errorf("count %d is neither the guesses nor the guesses and early-stopping sessions: %v", f.Service.Count, exp.Counts)
			}
		})
	}
}

// Sessions one host makes to the bastion, by shape: client and server
// segments and IP bytes, flags, start and duration in seconds.
func shaped(t *testing.T, n int, every float64, cpk, cb, spk, sb uint64, cflags, sflags string) []*event.Contact {
	var cs []*event.Contact
	for i := range n {
		start := 1000 + float64(i)*every
		c := detecttest.Contact(t, fmt.Sprintf("198.51.100.7:%d > 10.0.0.5:22 tcp established in i-0bastion", 40000+i))
		c.Start = event.Time(start)
		c.End = c.Start
		c.Fwd = event.Half{Packets: cpk, Bytes: cb, Flags: flagsOf(cflags), Records: 1, HasFlags: true}
		c.Rev = event.Half{Packets: spk, Bytes: sb, Flags: flagsOf(sflags), Records: 1, HasFlags: true}
		cs = append(cs, c)
	}
	return cs
}

func TestEarlyStoppingSessions(t *testing.T) {
	// The lab's banner loop: 60 connections every half second; the even
	// ones read the server's identification and close without a word
	// (SYN, ACK, FIN, ACK: 4 segments, 216 bytes), the odd ones send 18
	// bytes that are no identification string first.
	var loop []*event.Contact
	for i, c := range shaped(t, 60, 0.5, 4, 216, 4, 238, "SF", "SAF") {
		if i%2 == 1 {
			c.Fwd.Packets, c.Fwd.Bytes = 5, 216+52+18
		}
		loop = append(loop, c)
	}
	d, _ := New(detecttest.Env(nil))
	fs := detecttest.Run(t, d, loop...)
	if len(fs) != 1 || fs[0].Service.Count != 30 {
		t.Fatalf("banner loop: %d findings, want one counting the 30 sessions that sent something", len(fs))
	}
	exp := fs[0].Service.AdditionalInfo.Explanation
	if exp.Counts["preauth_sessions"] != 30 || exp.Thresholds[len(exp.Thresholds)-1].Name != "min_probe_burst" {
		t.Errorf("explanation: %v %v", exp.Counts, exp.Thresholds)
	}

	quiet := map[string][]*event.Contact{
		// Prometheus' blackbox exporter checking the banner every 15 s
		// for an hour: it sends "SSH-2.0-blackbox-ssh-check\r\n".
		"banner monitoring": shaped(t, 240, 15, 5, 216+52+28, 5, 290, "SF", "SAF"),
		// A load balancer's TCP health check every second for an hour:
		// connect and close, no payload.
		"connect-and-close health checks": shaped(t, 3600, 1, 4, 216, 4, 259, "SF", "SAF"),
		// nmap -sT: SYN, ACK, RST.
		"connect scan": shaped(t, 100, 0.1, 3, 60+52+40, 2, 60+52+43, "SR", "SA"),
	}
	for name, cs := range quiet {
		t.Run(name, func(t *testing.T) {
			d, _ := New(detecttest.Env(nil))
			if fs := detecttest.Run(t, d, cs...); len(fs) != 0 {
				t.Errorf("%d findings: %s", len(fs), fs[0].Service.AdditionalInfo.Explanation.Summary)
			}
		})
	}
}

// An administrator's interactive session sends a segment per keystroke:
// its first minute, still open, looks like many small requests. It
// counts once, as a connection.
func TestOpenSessionCountsOnce(t *testing.T) {
	d, _ := New(detecttest.Env(nil))
	var cs []*event.Contact
	for i, c := range shaped(t, 10, 360, 12, 2300, 11, 2400, "S", "SA") {
		// The first minutes of ten sessions: the handshake, then 80
		// keystrokes of 36 bytes, each acknowledged; the server's
		// echoes are no more than a failing server sends.
		c.Fwd.Packets, c.Fwd.Bytes = 12+80, 2300+80*(52+36)
		c.Rev.Packets, c.Rev.Bytes = 11+80, 2400+80*52
		cs = append(cs, c)
		// The lightest session of the pair, for the estimate to compare
		// with: one that failed once.
		if i == 0 {
			cs = append(cs, shaped(t, 1, 0, 12, 2300, 11, 2400, "SF", "SAF")[0])
			cs[len(cs)-1].IPort = 50000
		}
	}
	fs := detecttest.Run(t, d, cs...)
	if len(fs) != 0 {
		t.Errorf("ten open sessions: %d findings: %s", len(fs), fs[0].Service.AdditionalInfo.Explanation.Summary)
	}
}

func TestPayload(t *testing.T) {
	tests := []struct {
		name  string
		h     event.Half
		v6    bool
		bytes uint64
	}{
		{"connect and close", event.Half{Packets: 4, Bytes: 60 + 3*52}, false, 0},
		{"connect and close without timestamps", event.Half{Packets: 4, Bytes: 52 + 3*40}, false, 0},
		{"connect and close over IPv6", event.Half{Packets: 4, Bytes: 80 + 3*72}, true, 0},
		{"identification string", event.Half{Packets: 4, Bytes: 240}, false, 24},
		{"identification string over IPv6", event.Half{Packets: 4, Bytes: 80 + 3*72 + 24}, true, 24},
		{"nothing", event.Half{}, false, 0},
	}
	for _, tt := range tests {
		if got := payload(&tt.h, tt.v6); got != tt.bytes {
			t.Errorf("%s: %d bytes of payload, want %d", tt.name, got, tt.bytes)
		}
	}
}

// Saving the state in the middle of an attack and restoring it into a
// new detector gives the findings of an uninterrupted run.
func TestStateRoundTrip(t *testing.T) {
	cs := loadSessions(t, "hydra", 1000)
	cs = append(cs, loadSessions(t, "nmapbrute", 1100)...)
	for i, c := range cs {
		c.IPort = uint16(40000 + i)
	}
	whole, _ := New(detecttest.Env(nil))
	want := detecttest.Run(t, whole, cs...)

	first, _ := New(detecttest.Env(nil))
	var got []*finding.Finding
	emit := func(f *finding.Finding) { got = append(got, f) }
	half := len(cs) / 2
	for _, c := range cs[:half] {
		first.Observe(c, emit)
	}
	b, err := first.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	second, _ := New(detecttest.Env(nil))
	if err := second.UnmarshalState(b); err != nil {
		t.Fatal(err)
	}
	b2, _ := second.MarshalState()
	third, _ := New(detecttest.Env(nil))
	if err := third.UnmarshalState(b2); err != nil {
		t.Fatal(err)
	}
	rest := detecttest.Run(t, third, cs[half:]...)
	if len(want) != 1 || len(rest) != 1 {
		t.Fatalf("%d findings uninterrupted, %d after restoring", len(want), len(rest))
	}
	w, r := want[0].Service.AdditionalInfo.Explanation.Counts, rest[0].Service.AdditionalInfo.Explanation.Counts
	for _, k := range []string{"guesses_to_target", "sessions_to_target", "preauth_sessions", "login_sessions", "peak_sessions_two_minutes"} {
		if w[k] != r[k] {
			t.Errorf("%s: %d uninterrupted, %d after restoring", k, w[k], r[k])
		}
	}
	if want[0].Service.Count != rest[0].Service.Count+sumCounts(got) {
		t.Errorf("count %d uninterrupted, %d after restoring (+%d before)", want[0].Service.Count, rest[0].Service.Count, sumCounts(got))
	}
}

func sumCounts(fs []*finding.Finding) int64 {
	var n int64
	for _, f := range fs {
		n += f.Service.Count
	}
	return n
}
