package jsonscan_test

import (
	"errors"
	"strings"
	"testing"

	"picket/internal/jsonscan"
)

func TestValue(t *testing.T) {
	tests := []struct {
		name string
		in   string
		end  int   // for a nil err
		err  error // nil, ErrShort, ErrSyntax or ErrTooDeep
		pos  int   // for a non-nil err
	}{
		{name: "string", in: `"abc" x`, end: 5},
		{name: "string with escapes", in: `"a\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"`, end: 37},
		{name: "string of non-ASCII", in: "\"h\u00e9llo \xff\xfe w\u00f6rld, long enough for words\",", end: 41},
		{name: "empty object", in: `{}`, end: 2},
		{name: "empty array", in: `[ ]`, end: 3},
		{name: "nested", in: `{"a" : [1, -2.5e+3, true, false, null, {"b":{}}], "c":"d"} tail`, end: 58},
		{name: "number then delimiter", in: `-0.125E-7,`, end: 9},
		{name: "literal then delimiter", in: `false]`, end: 5},
		{name: "what follows is not read", in: `{}}`, end: 2},

		{name: "empty input", in: ``, err: jsonscan.ErrShort, pos: 0},
		{name: "number at the end", in: `42`, err: jsonscan.ErrShort, pos: 0},
		{name: "cut-off literal", in: `tru`, err: jsonscan.ErrShort, pos: 0},
		{name: "cut-off string", in: `"abc`, err: jsonscan.ErrShort, pos: 4},
		{name: "cut-off escape", in: `"ab\u00`, err: jsonscan.ErrShort, pos: 3},
		{name: "cut-off object", in: `{"a":1`, err: jsonscan.ErrShort, pos: 5},
		{name: "cut-off after a comma", in: `[1, `, err: jsonscan.ErrShort, pos: 4},
		{name: "cut-off after a key", in: `{"a" `, err: jsonscan.ErrShort, pos: 5},

		{name: "bare word", in: `abc`, err: jsonscan.ErrSyntax, pos: 0},
		{name: "bad literal", in: `nul,`, err: jsonscan.ErrSyntax, pos: 0},
		{name: "leading zero", in: `[01]`, err: jsonscan.ErrSyntax, pos: 2},
		{name: "number without digits", in: `[-]`, err: jsonscan.ErrSyntax, pos: 1},
		{name: "fraction without digits", in: `[1.]`, err: jsonscan.ErrSyntax, pos: 1},
		{name: "exponent without digits", in: `[1e+]`, err: jsonscan.ErrSyntax, pos: 1},
		{name: "bad escape", in: `"ab\x"`, err: jsonscan.ErrSyntax, pos: 3},
		{name: "bad unicode escape", in: `"\u12g4"`, err: jsonscan.ErrSyntax, pos: 1},
		{name: "raw control character", in: "\"a\tb\"", err: jsonscan.ErrSyntax, pos: 2},
		{name: "raw line break after a word", in: "\"abcdefghij\nk\"", err: jsonscan.ErrSyntax, pos: 11},
		{name: "key not a string", in: `{a:1}`, err: jsonscan.ErrSyntax, pos: 1},
		{name: "missing colon", in: `{"a" 1}`, err: jsonscan.ErrSyntax, pos: 5},
		{name: "missing comma", in: `[1 2]`, err: jsonscan.ErrSyntax, pos: 3},
		{name: "trailing comma", in: `[1,]`, err: jsonscan.ErrSyntax, pos: 3},
		{name: "trailing comma in object", in: `{"a":1,}`, err: jsonscan.ErrSyntax, pos: 7},
		{name: "mismatched bracket", in: `[1}`, err: jsonscan.ErrSyntax, pos: 2},
		{name: "mismatched brace", in: `{"a":1]`, err: jsonscan.ErrSyntax, pos: 6},
		{name: "too deep", in: strings.Repeat("[", jsonscan.MaxDepth+1) + "1", err: jsonscan.ErrTooDeep, pos: jsonscan.MaxDepth + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			end, pos, err := jsonscan.Value([]byte(tt.in), 0)
			if err != tt.err {
				t.Fatalf("Value(%q) = %d, %d, %v; want error %v", tt.in, end, pos, err, tt.err)
			}
			if err == nil && end != tt.end {
				t.Errorf("Value(%q) ends at %d, want %d", tt.in, end, tt.end)
			}
			if err != nil && pos != tt.pos {
				t.Errorf("Value(%q): %v at %d, want at %d", tt.in, err, pos, tt.pos)
			}
		})
	}
}

// TestDepth checks the nesting bound exactly, with both kinds of brackets
// mixed so that the bit stack is read back right across its words.
func TestDepth(t *testing.T) {
	nest := func(n int) string {
		var open, closing strings.Builder
		for i := range n {
			if i%3 == 0 {
				open.WriteString(`{"k":`)
				closing.WriteString("}")
			} else {
				open.WriteString("[")
				closing.WriteString("]")
			}
		}
		c := []byte(closing.String())
		for i, j := 0, len(c)-1; i < j; i, j = i+1, j-1 {
			c[i], c[j] = c[j], c[i]
		}
		return open.String() + "0" + string(c)
	}
	in := nest(jsonscan.MaxDepth)
	if end, _, err := jsonscan.Value([]byte(in), 0); err != nil || end != len(in) {
		t.Errorf("%d levels: end %d of %d, %v", jsonscan.MaxDepth, end, len(in), err)
	}
	if _, _, err := jsonscan.Value([]byte(nest(jsonscan.MaxDepth+1)), 0); err != jsonscan.ErrTooDeep {
		t.Errorf("%d levels: %v", jsonscan.MaxDepth+1, err)
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		in      string
		content string // unescaped
		esc     bool
	}{
		{`""`, "", false},
		{`"plain ascii, more than eight bytes long"`, "plain ascii, more than eight bytes long", false},
		{`"\u00e9t\u00E9"`, "été", true},
		{`"\ud83d\ude00 grin"`, "😀 grin", true},
		{`"lone \ud800 high"`, "lone \uFFFD high", true},
		{`"lone \ude00 low"`, "lone \uFFFD low", true},
		{`"high then non-low \ud800\u0041"`, "high then non-low \uFFFDA", true},
		{`"\"quoted\" \\ \/ \b\f\n\r\t"`, "\"quoted\" \\ / \b\f\n\r\t", true},
		{"\"\xff\xfe\x80 bytes above 0x7f pass\"", "\xff\xfe\x80 bytes above 0x7f pass", false},
	}
	for _, tt := range tests {
		b := []byte(tt.in + ",")
		end, esc, _, err := jsonscan.String(b, 0)
		if err != nil || end != len(tt.in) || esc != tt.esc {
			t.Errorf("String(%q) = %d, %v, %v; want %d, %v", tt.in, end, esc, err, len(tt.in), tt.esc)
			continue
		}
		if got := string(jsonscan.AppendUnescaped([]byte("x"), b[1:end-1])); got != "x"+tt.content {
			t.Errorf("AppendUnescaped(%q) = %q, want %q", tt.in, got[1:], tt.content)
		}
	}
}

func TestBalance(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		end    int
		broken bool
		pos    int
		err    error
	}{
		{name: "object with bad syntax inside", in: `{"a":1 "b" [x]} next`, end: 15},
		{name: "brackets inside strings", in: `{"a":"}]\"{"} x`, end: 13},
		{name: "string", in: `"a\"b" x`, end: 6},
		{name: "scalar", in: `nonsense, x`, end: 8},
		{name: "lone closing bracket", in: `}`, end: 1},
		{name: "string cut by a line break", in: "{\"a\":\"b\n\"}", broken: true, pos: 7},
		{name: "unclosed object", in: `{"a":[1,2]`, pos: 10, err: jsonscan.ErrShort},
		{name: "unclosed string", in: `{"a":"b`, pos: 7, err: jsonscan.ErrShort},
		{name: "scalar at the end", in: `123`, pos: 3, err: jsonscan.ErrShort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			end, broken, pos, err := jsonscan.Balance([]byte(tt.in), 0)
			if end != tt.end || broken != tt.broken || pos != tt.pos || err != tt.err {
				t.Errorf("Balance(%q) = %d, %v, %d, %v; want %d, %v, %d, %v", tt.in, end, broken, pos, err, tt.end, tt.broken, tt.pos, tt.err)
			}
		})
	}
}

func TestMember(t *testing.T) {
	obj := ` {"name":"trail-1","n":42,"esc":"a\"b","nested":{"inner":[1,{"x":"}"}]},` +
		`"dup":"first","dup":"second","nul":null,"s\u0070aced" : "yes",` +
		`"long\u006b` + strings.Repeat("e", 70) + `y":true} `
	tests := []struct {
		key  string
		want string // "" for nil
	}{
		{"name", `"trail-1"`},
		{"n", "42"},
		{"esc", `"a\"b"`},
		{"nested", `{"inner":[1,{"x":"}"}]}`},
		{"dup", `"second"`},
		{"nul", "null"},
		{"spaced", `"yes"`},
		{"longk" + strings.Repeat("e", 70) + "y", "true"},
		{"inner", ""},
		{"missing", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := string(jsonscan.Member([]byte(obj), tt.key)); got != tt.want {
			t.Errorf("Member(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
	for _, bad := range []string{
		"", "  ", "null", `[{"a":1}]`, `"a"`, `{}`,
		`{"a":1`, `{"a" 1}`, `{"a":1,}`, `{"a":1 "b":2}`, `{a:1}`,
		`{"a":1,"b":tru}`, `{"a":1,"b":"\x"}`, `{"a":1,"b":[}`, `{"a":1}`[:6],
	} {
		if v := jsonscan.Member([]byte(bad), "a"); v != nil {
			t.Errorf("Member(%q, a) = %q, want nil", bad, v)
		}
	}
}

// TestPrefixes checks the contract with streaming callers: every proper
// prefix of a valid value is ErrShort, never a syntax error, so that
// reading more and scanning again finds the value.
func TestPrefixes(t *testing.T) {
	for _, v := range []string{
		`{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/r/s"},` +
			`"eventTime":"2024-01-02T03:04:05Z","requestParameters":{"n":[-1.5e-3,0,true,false,null,"\u00e9\ud83d\ude00"]}}`,
		`[ 1 , [ ] , { } , "a" ]`,
		`-12.5E+10`,
		`"\\\""`,
	} {
		for k := range len(v) {
			if _, pos, err := jsonscan.Value([]byte(v[:k]), 0); !errors.Is(err, jsonscan.ErrShort) {
				t.Errorf("prefix %q: %v at %d, want ErrShort", v[:k], err, pos)
			}
		}
		if end, _, err := jsonscan.Value([]byte(v+" "), 0); err != nil || end != len(v) {
			t.Errorf("%q: end %d, %v", v, end, err)
		}
	}
}

// TestAllocs holds the scanners to zero allocations.
func TestAllocs(t *testing.T) {
	obj := []byte(`{"a":{"b":[1,2,{"c":"d\u00e9"}]},"k\u0065y":"v","z":-1.5e3}`)
	buf := make([]byte, 0, 64)
	n := testing.AllocsPerRun(100, func() {
		if _, _, err := jsonscan.Value(obj, 0); err != nil {
			t.Fatal(err)
		}
		if jsonscan.Member(obj, "key") == nil || jsonscan.Member(obj, "z") == nil {
			t.Fatal("member not found")
		}
		if _, _, _, err := jsonscan.Balance(obj, 0); err != nil {
			t.Fatal(err)
		}
		end, _, _, _ := jsonscan.String(obj, 1)
		buf = jsonscan.AppendUnescaped(buf[:0], obj[2:end-1])
	})
	if n != 0 {
		t.Errorf("%v allocations, want 0", n)
	}
}

// BenchmarkValue measures checking a CloudTrail event, the scanners'
// main load, and reading one member of it.
func BenchmarkValue(b *testing.B) {
	ev := []byte(`{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLE:i-0abc123def4567890",` +
		`"arn":"arn:aws:sts::123456789012:assumed-role/web-role/i-0abc123def4567890","accountId":"123456789012",` +
		`"accessKeyId":"ASIAEXAMPLEKEY","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAEXAMPLE",` +
		`"arn":"arn:aws:iam::123456789012:role/web-role","accountId":"123456789012","userName":"web-role"},` +
		`"attributes":{"creationDate":"2026-03-04T09:58:11Z","mfaAuthenticated":"false"},"ec2RoleDelivery":"2.0"}},` +
		`"eventTime":"2026-03-04T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1",` +
		`"sourceIPAddress":"10.0.1.10","userAgent":"aws-sdk-go-v2/1.24.0 os/linux lang/go#1.22 md/GOOS#linux",` +
		`"requestParameters":{"bucketName":"app-assets","key":"images/logo \u00e9.png","Host":"app-assets.s3.amazonaws.com"},` +
		`"responseElements":null,"additionalEventData":{"bytesTransferredIn":0,"bytesTransferredOut":18234.0,"x-amz-id-2":"abc"},` +
		`"requestID":"7F1D2C3B4A596877","eventID":"0a1b2c3d-4e5f-6789-abcd-ef0123456789","readOnly":true,` +
		`"resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::app-assets/images/logo.png"}],"eventType":"AwsApiCall",` +
		`"managementEvent":false,"recipientAccountId":"123456789012","eventCategory":"Data"}`)
	b.Run("value", func(b *testing.B) {
		b.SetBytes(int64(len(ev)))
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := jsonscan.Value(ev, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("member", func(b *testing.B) {
		b.SetBytes(int64(len(ev)))
		b.ReportAllocs()
		for b.Loop() {
			if jsonscan.Member(ev, "eventName") == nil {
				b.Fatal("eventName")
			}
		}
	})
}
