package bruteforce

import "picket/internal/event"

// kind is what one contact to a login port was.
type kind uint8

const (
	kindNone  kind = iota // no login attempt: a connect-and-close, a blocked or failed connection
	kindLogin             // a working session: long, heavy, or the server said more than a failing login
	kindProbe             // an SSH client that sent its identification string and stopped
	kindAuth              // a session that reached authentication and carried guesses
)

// session is the verdict on one contact.
type session struct {
	kind    kind
	guesses uint32 // guesses (kindAuth); for SSH what Detector.guesses adds to the pair
	open    bool   // an SSH connection still open at the end of its first minute
	shape   shape  // what an SSH session sent
}

// Segment sizes. Flow logs count IP bytes: every segment carries a 20-byte
// IPv4 header (40 for IPv6) and a 20-byte TCP header, and Linux adds the
// 12-byte timestamp option to every segment once the SYN negotiated it;
// the SYN and SYN-ACK carry 20 bytes of options (MSS, SACK permitted,
// timestamp, window scale). A segment without payload is therefore 52
// bytes (72 over IPv6) and the first one 60 (80): the most a bare
// segment takes, so that payload(h) is never more than what was sent.
// Windows does not send timestamps (40-byte segments); its payload is
// underestimated by 12 bytes a segment, never overestimated.
const (
	segHeader4 = 52
	synHeader4 = 60
	ip6Extra   = 20
)

// payload estimates the bytes of TCP payload in one direction of a
// contact.
func payload(h *event.Half, v6 bool) uint64 {
	if h.Packets == 0 {
		return 0
	}
	seg, syn := uint64(segHeader4), uint64(synHeader4)
	if v6 {
		seg += ip6Extra
		syn += ip6Extra
	}
	hdr := syn + (h.Packets-1)*seg
	if h.Bytes <= hdr {
		return 0
	}
	return h.Bytes - hdr
}

// The SSH session model, from RFC 4253 (transport) and RFC 4252
// (authentication), checked against captures of nmap's ssh-brute, hydra,
// medusa and ncrack (see the tests).
const (
	// sshIdentMin is the shortest identification string a client can
	// send, "SSH-2.0-x\r\n" (RFC 4253 §4.2). A client that sent less
	// payload sent none: a connect-and-close (a health check, nmap -sT),
	// which is no attempt.
	sshIdentMin = 11
	// sshIdentMax is the longest identification string, 255 bytes with
	// CR LF (RFC 4253 §4.2). A client that sent no more stopped before
	// key exchange: a banner bot, a banner grab or a client that the
	// server turned away (sshd's MaxStartups).
	sshIdentMax = 255
	// sshHandshakeMax bounds the client payload before authentication:
	// identification (at most 255 bytes), KEXINIT (0.9 to 1.9 KB in the
	// clients measured), the key exchange's init (32 bytes of curve25519
	// up to 1.2 KB for sntrup761x25519 or mlkem768x25519, 1 KB for an
	// 8192-bit group exchange), NEWKEYS, SERVICE_REQUEST and the "none"
	// request (under 200 bytes): together under 4 KB.
	sshHandshakeMax = 4096
	// sshRequestMax bounds the payload of one password guess: a
	// USERAUTH_REQUEST (RFC 4252 §8) holds the user name, the service,
	// the method and the password as strings; with names and passwords
	// under 100 characters, padding and MAC it stays under 256 bytes
	// (84 to 148 measured). A client that sent more than its handshake
	// and the most guesses a connection allows sent data: a login (an
	// scp or rsync upload, a command's input), not guesses.
	sshRequestMax = 256
	// sshRequestMin is the least payload a further guess adds on the
	// client's side: the request's plaintext (41 bytes with an empty
	// user name and password) padded to a 16-byte block, with a 16-byte
	// MAC or tag, is at least 64 bytes.
	sshRequestMin = 64
	// sshFailureMin is the least payload a further guess adds on the
	// server's side: USERAUTH_FAILURE (RFC 4252 §5.1) names the methods
	// that can continue ("publickey,password"), at least 32 bytes
	// padded and with its MAC.
	sshFailureMin = 32
)

// judge says what one established contact to a login port was.
func (d *Detector) judge(c *event.Contact, svc service) session {
	if c.Outcome != event.OutcomeEstablished && c.Outcome != event.OutcomeData {
		return session{}
	}
	if c.End-c.Start > d.maxSecs || c.Fwd.Bytes > d.maxBytes || c.Rev.Bytes > d.maxBytes {
		return session{kind: kindLogin}
	}
	if svc == svcSSH {
		return d.judgeSSH(c)
	}
	// RDP with NLA (CredSSP) and WinRM (HTTP with NTLM or Kerberos) take
	// one set of credentials per connection in the tools that guess
	// them; a session without a kilobyte from the client carried none.
	if c.Fwd.Bytes < d.minClient {
		return session{}
	}
	return session{kind: kindAuth, guesses: 1}
}

// judgeSSH says what one SSH session was. The guesses of a session that
// reached authentication are estimated later, against the pair's other
// sessions (see guesses).
func (d *Detector) judgeSSH(c *event.Contact) session {
	v6 := c.Initiator.Is6()
	s := session{shape: shape{
		CPk: c.Fwd.Packets, SPk: c.Rev.Packets,
		CPl: payload(&c.Fwd, v6), SPl: payload(&c.Rev, v6),
	}}
	switch {
	case s.shape.CPl < sshIdentMin:
		return session{}
	case s.shape.CPl <= sshIdentMax:
		s.kind = kindProbe
	case s.shape.SPl > d.loginServer || s.shape.CPl > sshHandshakeMax+d.maxPerSession*sshRequestMax:
		s.kind = kindLogin
	default:
		s.kind = kindAuth
		s.guesses = 1
		// Neither side closed within the contact's minute: the
		// connection goes on (the next minute's contact is a
		// continuation), as an interactive session does, and what it
		// sent so far may be keystrokes. It counts as one guess.
		s.open = c.Fwd.HasFlags && (c.Fwd.Flags|c.Rev.Flags)&(event.TCPFin|event.TCPRst) == 0
	}
	return s
}

// shape is what an SSH session sent: segments and payload each way.
type shape struct {
	CPk, SPk uint64 // client's and server's segments
	CPl, SPl uint64 // client's and server's payload bytes
}

// guesses counts an SSH session that reached authentication into its
// pair and returns how many guesses the pair's estimate grew by: one for
// the session and its extra guesses, and the extra guesses that the
// pair's earlier sessions show once a lighter session arrived.
//
// A tool's sessions to one server share their handshake (the same
// identification strings, KEXINIT and key exchange) and differ by their
// guesses: each further guess adds at least one segment and a request of
// sshRequestMin bytes from the client, and one segment and a failure of
// sshFailureMin bytes from the server. The pair's lightest session (the
// least of each measure) stands for the handshake with one guess; a
// session has as many extra guesses as all four measures allow above it.
// When a lighter session arrives, every earlier session is credited with
// the increments that all four measures moved down by (medusa and ncrack
// keep their one-guess sessions for the end). Sessions that differ only
// in what a working session adds (command output, acknowledgements) get
// no extra guesses: the client's payload does not grow. The estimate is a
// lower bound while the pair has no one-guess session, and at most
// max_guesses_per_session a session.
func (d *Detector) guesses(p *pair, s *shape) uint32 {
	var extra uint64
	if p.Shaped == 0 {
		p.Min = *s
	} else {
		m := shape{min(p.Min.CPk, s.CPk), min(p.Min.SPk, s.SPk), min(p.Min.CPl, s.CPl), min(p.Min.SPl, s.SPl)}
		extra = uint64(p.Shaped) * increments(&p.Min, &m)
		p.Min = m
	}
	extra += increments(s, &p.Min)
	p.Shaped++
	// At most max_guesses_per_session for each session counted.
	limit := uint64(p.Shaped)*(d.maxPerSession-1) - uint64(p.Extra)
	extra = min(extra, limit)
	p.Extra += uint32(extra)
	return 1 + uint32(extra)
}

// increments is the number of guesses by which s exceeds base in all four
// measures; s is at least base in each.
func increments(s, base *shape) uint64 {
	return min(s.CPk-base.CPk, s.SPk-base.SPk, (s.CPl-base.CPl)/sshRequestMin, (s.SPl-base.SPl)/sshFailureMin)
}
