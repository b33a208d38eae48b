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

func TestWriteAWSProfile(t *testing.T) {
	var b strings.Builder
	WriteAWSProfile(&b, Credential{AccessKeyID: "PKEXAMPLE", SecretAccessKey: "s3cr3t", Account: "111122223333"}, "picket", "us-east-1", "http://127.0.0.1:8080")
	for _, want := range []string{"[profile picket]\n", "endpoint_url = http://127.0.0.1:8080\n", "aws_access_key_id = PKEXAMPLE\n", "aws_secret_access_key = s3cr3t\n", "account 111122223333"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("profile lacks %q:\n%s", want, b.String())
		}
	}
}
