// Package datadir owns the data directory of picket serve: the lock that
// keeps a second service out of it, the API key pair generated in it when
// none is configured, and the key that seals pagination tokens, each a
// file written whole or not at all. It also says how a client reaches the
// service: the endpoint URL of a listen address and the AWS CLI profile
// for a key. Only the composition root and the command import it.
package datadir

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"picket/internal/config"
)

// The files of the data directory.
const (
	// CredentialsFile holds the generated API key pair (0600).
	CredentialsFile = "credentials.json"
	tokenKeyFile    = "token.key"
	lockFile        = "picket.lock"
)

// Dir is the service's data directory, locked against a second
// picket serve for as long as it is open.
type Dir struct {
	path string
	lock *os.File
}

// Open creates the directory (0700) if need be and locks it.
func Open(path string) (*Dir, error) {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(path, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening data directory lock: %w", err)
	}
	if err := lockExclusive(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("data directory %s is in use by another picket serve: %w", path, err)
	}
	return &Dir{path: path, lock: f}, nil
}

// Path returns the directory's path, as given to Open.
func (d *Dir) Path() string { return d.path }

// File returns the path of a file in the directory.
func (d *Dir) File(name string) string { return filepath.Join(d.path, name) }

// Close releases the lock.
func (d *Dir) Close() error {
	if d.lock == nil {
		return nil
	}
	err := d.lock.Close() // releases the lock
	d.lock = nil
	return err
}

// Credential is the API key pair picket generates in its data directory
// when none is configured.
type Credential struct {
	AccessKeyID     string        `json:"access_key_id"`
	SecretAccessKey config.Secret `json:"secret_access_key"`
	Account         string        `json:"account"`
}

// credentialJSON is Credential on disk: the secret in clear.
type credentialJSON struct {
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	Account         string `json:"account"`
}

// ReadCredential reads the generated credential of a data directory.
func ReadCredential(dir string) (Credential, error) {
	b, err := os.ReadFile(filepath.Join(dir, CredentialsFile))
	if err != nil {
		return Credential{}, fmt.Errorf("reading the generated credentials: %w", err)
	}
	var c credentialJSON
	if err := json.Unmarshal(b, &c); err != nil {
		return Credential{}, fmt.Errorf("reading the generated credentials %s: %w", filepath.Join(dir, CredentialsFile), err)
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return Credential{}, fmt.Errorf("the generated credentials %s are incomplete", filepath.Join(dir, CredentialsFile))
	}
	return Credential{AccessKeyID: c.AccessKeyID, SecretAccessKey: config.Secret(c.SecretAccessKey), Account: c.Account}, nil
}

// GeneratedCredential returns the data directory's generated credential,
// creating it (0600) on first use; created says so. It names no account:
// it acts as the service's configured account.
func (d *Dir) GeneratedCredential() (c Credential, created bool, err error) {
	c, err = ReadCredential(d.path)
	if err == nil {
		return c, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return Credential{}, false, err
	}
	id := make([]byte, 12)
	secret := make([]byte, 30)
	if _, err := rand.Read(id); err != nil {
		return Credential{}, false, err
	}
	if _, err := rand.Read(secret); err != nil {
		return Credential{}, false, err
	}
	c = Credential{
		// 20 characters like an AWS access key ID; the PK prefix says
		// where it came from.
		AccessKeyID:     "PK" + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(id)[:18],
		SecretAccessKey: config.Secret(base64.RawStdEncoding.EncodeToString(secret)),
	}
	b, err := json.MarshalIndent(credentialJSON{c.AccessKeyID, string(c.SecretAccessKey), c.Account}, "", "  ")
	if err != nil {
		return Credential{}, false, err
	}
	if err := writeFileAtomic(d.File(CredentialsFile), append(b, '\n'), 0o600); err != nil {
		return Credential{}, false, fmt.Errorf("writing the generated credentials: %w", err)
	}
	return c, true, nil
}

// TokenKey returns the key that seals pagination tokens, creating it
// (0600) on first use, so that tokens survive restarts.
func (d *Dir) TokenKey() ([]byte, error) {
	path := d.File(tokenKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) < 32 {
			return nil, fmt.Errorf("pagination key %s is shorter than 32 bytes", path)
		}
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading the pagination key: %w", err)
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("writing the pagination key: %w", err)
	}
	return b, nil
}

// writeFileAtomic writes a file that appears whole or not at all.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// WriteAWSProfile writes the AWS CLI configuration for a credential: the
// lines to add to ~/.aws/config and to ~/.aws/credentials, and an example
// command.
func WriteAWSProfile(w io.Writer, c Credential, profile, region, endpoint string) {
	fmt.Fprintf(w, "# ~/.aws/config\n[profile %s]\nregion = %s\nendpoint_url = %s\n\n", profile, region, endpoint)
	fmt.Fprintf(w, "# ~/.aws/credentials\n[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n\n", profile, c.AccessKeyID, string(c.SecretAccessKey))
	fmt.Fprintf(w, "# then:\n#   aws --profile %s guardduty list-detectors\n", profile)
	if c.Account != "" {
		fmt.Fprintf(w, "# (the key acts as account %s)\n", c.Account)
	}
}

// EndpointURL is the URL clients use for a listen address.
func EndpointURL(listen string) string {
	host := listen
	if strings.HasPrefix(host, ":") {
		host = "127.0.0.1" + host
	}
	host = strings.Replace(host, "0.0.0.0:", "127.0.0.1:", 1)
	host = strings.Replace(host, "[::]:", "127.0.0.1:", 1)
	return "http://" + host
}
