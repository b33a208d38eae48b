package publish

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"time"

	"picket/internal/finding"
)

// Syslog sends each event as an RFC 5424 message over TCP, or TLS when
// TLS is set (RFC 5425), framed by octet counting (RFC 6587: the
// message's length in bytes, a space, the message). The message's body is
// the event in its format; its timestamp is the finding's updatedAt; its
// severity follows the finding's: critical, error, warning or notice. One
// connection is kept open and dialled again after a failure.
type Syslog struct {
	TargetName string
	Addr       string      // host:port
	TLS        *tls.Config // nil: plain TCP
	Format     Format
	Facility   int    // 0 to 23; 10 (authpriv) by default
	Hostname   string // "" sends the nil value, "-"
	AppName    string // default picket

	conn net.Conn
}

var _ Target = (*Syslog)(nil)

// Name returns the target's name.
func (s *Syslog) Name() string { return s.TargetName }

// SyslogSeverity returns the syslog severity of a finding's severity:
// 2 (critical), 3 (error), 4 (warning) or 5 (notice).
func SyslogSeverity(sev finding.Severity) int {
	switch sev.Label() {
	case "Critical":
		return 2
	case "High":
		return 3
	case "Medium":
		return 4
	}
	return 5
}

// Message returns the RFC 5424 message of an event with body, framed by
// octet counting.
func (s *Syslog) Message(e Event, body []byte) []byte {
	fac := s.Facility
	if fac == 0 {
		fac = 10
	}
	host, app := s.Hostname, s.AppName
	if host == "" {
		host = "-"
	}
	if app == "" {
		app = "picket"
	}
	msgid := "FINDING_" + e.Kind
	msg := make([]byte, 0, len(body)+128)
	msg = append(msg, '<')
	msg = strconv.AppendInt(msg, int64(fac*8+SyslogSeverity(e.Finding.Severity)), 10)
	msg = append(msg, ">1 "...)
	msg = e.Finding.UpdatedAt.UTC().AppendFormat(msg, "2006-01-02T15:04:05.000Z")
	msg = append(msg, ' ')
	msg = append(msg, host...)
	msg = append(msg, ' ')
	msg = append(msg, app...)
	msg = append(msg, " - "...)
	msg = append(msg, msgid...)
	msg = append(msg, " - "...)
	msg = append(msg, body...)
	frame := strconv.AppendInt(make([]byte, 0, len(msg)+8), int64(len(msg)), 10)
	frame = append(frame, ' ')
	return append(frame, msg...)
}

// Send writes the events' messages in order.
func (s *Syslog) Send(ctx context.Context, events []Event) error {
	if s.conn == nil {
		d := &net.Dialer{Timeout: 10 * time.Second}
		var c net.Conn
		var err error
		if s.TLS != nil {
			c, err = (&tls.Dialer{NetDialer: d, Config: s.TLS}).DialContext(ctx, "tcp", s.Addr)
		} else {
			c, err = d.DialContext(ctx, "tcp", s.Addr)
		}
		if err != nil {
			return fmt.Errorf("syslog %s: %w", s.TargetName, err)
		}
		s.conn = c
	}
	if dl, ok := ctx.Deadline(); ok {
		s.conn.SetWriteDeadline(dl)
	}
	var buf []byte
	for _, e := range events {
		body, err := Encode(s.Format, e)
		if err != nil {
			return err
		}
		buf = append(buf, s.Message(e, body)...)
	}
	if _, err := s.conn.Write(buf); err != nil {
		s.conn.Close()
		s.conn = nil
		return fmt.Errorf("syslog %s: %w", s.TargetName, err)
	}
	return nil
}

// Close closes the connection.
func (s *Syslog) Close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}
