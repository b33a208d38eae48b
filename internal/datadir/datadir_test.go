package datadir

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestDir opens a data directory twice: the second open is refused while
// the first holds the lock; the generated credential and the pagination
// key are created once, readable by the owner only, and the same after a
// reopen.
func TestDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data")
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "in use by another picket serve") {
			t.Errorf("second open: %v, want the directory in use", err)
		}
	}
	c, created, err := d.GeneratedCredential()
	if err != nil || !created {
		t.Fatalf("first credential: created %v, %v", created, err)
	}
	if len(c.AccessKeyID) != 20 || !strings.HasPrefix(c.AccessKeyID, "PK") || c.SecretAccessKey == "" {
		t.Errorf("generated credential %q", c.AccessKeyID)
	}
	key, err := d.TokenKey()
	if err != nil || len(key) != 32 {
		t.Fatalf("token key: %d bytes, %v", len(key), err)
	}
	for _, name := range []string{CredentialsFile, tokenKeyFile} {
		info, err := os.Stat(d.File(name))
		if err != nil {
			t.Fatal(err)
		}
		if runtime.GOOS != "windows" && info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, info.Mode().Perm())
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	d, err = Open(path)
	if err != nil {
		t.Fatalf("reopening after Close: %v", err)
	}
	defer d.Close()
	again, created, err := d.GeneratedCredential()
	if err != nil || created || again != c {
		t.Errorf("credential after reopen: %q created %v, %v; want %q", again.AccessKeyID, created, err, c.AccessKeyID)
	}
	if read, err := ReadCredential(path); err != nil || read != c {
		t.Errorf("ReadCredential: %q, %v", read.AccessKeyID, err)
	}
	if key2, err := d.TokenKey(); err != nil || !bytes.Equal(key, key2) {
		t.Errorf("token key changed across a reopen (%v)", err)
	}
}

func TestEndpointURL(t *testing.T) {
	for _, tc := range []struct{ listen, want string }{
		{":8080", "http://127.0.0.1:8080"},
		{"0.0.0.0:8080", "http://127.0.0.1:8080"},
		{"[::]:8080", "http://127.0.0.1:8080"},
		{"127.0.0.1:9000", "http://127.0.0.1:9000"},
		{"picket.internal:443", "http://picket.internal:443"},
	} {
		t.Run(tc.listen, func(t *testing.T) {
			if got := EndpointURL(tc.listen); got != tc.want {
				t.Errorf("EndpointURL(%q) = %q, want %q", tc.listen, got, tc.want)
			}
		})
	}
}

func TestWriteClientSetup(t *testing.T) {
	setup := ClientSetup{Credential: Credential{AccessKeyID: "PKEXAMPLE", SecretAccessKey: "s3cr'et"}, Profile: "picket",
		Region: "us-east-1", Endpoint: "http://127.0.0.1:8080", Account: "000000000000"}
	tests := []struct {
		name    string
		mod     func(*ClientSetup)
		want    []string
		notWant []string
	}{
		{"administrator, CLI unknown", nil, []string{
			"account 000000000000, the administrator",
			"export AWS_ACCESS_KEY_ID='PKEXAMPLE'\nexport AWS_SECRET_ACCESS_KEY='s3cr'\\''et'\nexport AWS_DEFAULT_REGION='us-east-1'\n",
			"aws guardduty list-detectors --endpoint-url http://127.0.0.1:8080\n",
			"AWS CLI v1 1.29 and later, v2 2.13 and",
			"[profile picket]\nregion = us-east-1\nendpoint_url = http://127.0.0.1:8080\n",
			"[picket]\naws_access_key_id = PKEXAMPLE\naws_secret_access_key = s3cr'et\n",
			"aws --profile picket guardduty list-detectors",
		}, []string{"on this machine"}},
		{"member key", func(s *ClientSetup) { s.Credential.Account = "111122223333" }, []string{"account 111122223333, a member"}, []string{"administrator"}},
		{"a CLI that takes the profile", func(s *ClientSetup) { s.AWSCLI = "aws-cli/1.45.11 Python/3.11.7 Linux/6.1 botocore/1.43.11" },
			[]string{"The aws on this machine (aws-cli/1.45.11) takes both forms."}, nil},
		{"Debian 12's CLI", func(s *ClientSetup) {
			s.AWSCLI = "aws-cli/2.9.19 Python/3.11.2 Linux/6.1.0-18-amd64 source/x86_64.debian.12 prompt/off"
		},
			[]string{"The aws on this machine (aws-cli/2.9.19) ignores endpoint_url in a profile: use form 1."}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := setup
			if tt.mod != nil {
				tt.mod(&s)
			}
			var b strings.Builder
			WriteClientSetup(&b, s)
			for _, want := range tt.want {
				if !strings.Contains(b.String(), want) {
					t.Errorf("setup lacks %q:\n%s", want, b.String())
				}
			}
			for _, no := range tt.notWant {
				if strings.Contains(b.String(), no) {
					t.Errorf("setup has %q:\n%s", no, b.String())
				}
			}
		})
	}
}

func TestProfileEndpoint(t *testing.T) {
	tests := []struct {
		version   string
		ok, known bool
	}{
		{"aws-cli/1.28.9 Python/3.11 Linux/6 botocore/1.30.9", false, true},
		{"aws-cli/1.29.0 Python/3.11 Linux/6 botocore/1.31.0", true, true},
		{"aws-cli/1.45.11 Python/3.11.7 Linux/6.18 botocore/1.43.11", true, true},
		{"aws-cli/2.9.19 Python/3.11.2 Linux/6.1.0-18-amd64 source/x86_64.debian.12 prompt/off", false, true},
		{"aws-cli/2.12.7 Python/3.11.4", false, true},
		{"aws-cli/2.13.0 Python/3.11.4", true, true},
		{"aws-cli/2.31.4 Python/3.13.7 Linux/6.8 exe/x86_64.ubuntu.24", true, true},
		{"aws-cli/3.0.0", true, true},
		{"aws-cli/two", false, false},
		{"command not found", false, false},
		{"", false, false},
	}
	for _, tt := range tests {
		ok, known := ProfileEndpoint(tt.version)
		if ok != tt.ok || known != tt.known {
			t.Errorf("ProfileEndpoint(%q) = %t, %t; want %t, %t", tt.version, ok, known, tt.ok, tt.known)
		}
	}
}
