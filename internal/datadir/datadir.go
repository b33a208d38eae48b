// Package datadir owns the data directory of picket serve: the lock that
// keeps a second service out of it, the API key pair generated in it when
// none is configured, and the key that seals pagination tokens, each a
// file written whole or not at all. It also says how a client reaches the
// service: the endpoint URL of a listen address, and the environment and
// AWS CLI profile for a key with the AWS CLI versions each works with.
// Only the composition root and the command import it.
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
	"strconv"
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

// ClientSetup is what a client needs to reach a picket serve: the key,
// the endpoint and region, and the AWS CLI profile to name it.
type ClientSetup struct {
	Credential Credential
	Profile    string
	Region     string
	Endpoint   string
	// Account is the service's own account, the administrator of every
	// account whose logs it reads: a key that names no account acts as it.
	Account string
	// AWSCLI is what `aws --version` printed on this machine, "" when it
	// is not known.
	AWSCLI string
}

// WriteClientSetup writes how to use a key with the AWS CLI, boto3 and
// the SDKs, in two forms: environment variables plus --endpoint-url on
// each command, which every version honours, and an AWS CLI profile that
// carries the endpoint, which only newer versions honour (see
// ProfileEndpoint). It says which versions each form works with and,
// when it knows the installed CLI's version, which forms work with it.
func WriteClientSetup(w io.Writer, s ClientSetup) {
	c := s.Credential
	fmt.Fprintf(w, "# The API key of picket serve at %s, region %s.\n", s.Endpoint, s.Region)
	if c.Account == "" || c.Account == s.Account {
		fmt.Fprintf(w, "# It acts as account %s, the administrator: its detector shows the findings of\n# every account whose logs picket reads, each under its own accountId.\n", s.Account)
	} else {
		fmt.Fprintf(w, "# It acts as account %s, a member: it sees that account's findings only.\n", c.Account)
	}
	fmt.Fprintf(w, "\n# 1. Every AWS CLI version (v1 and v2), boto3 and the SDKs: export the key and\n#    give the endpoint to each command.\n")
	fmt.Fprintf(w, "export AWS_ACCESS_KEY_ID=%s\nexport AWS_SECRET_ACCESS_KEY=%s\nexport AWS_DEFAULT_REGION=%s\n",
		shellQuote(c.AccessKeyID), shellQuote(string(c.SecretAccessKey)), shellQuote(s.Region))
	fmt.Fprintf(w, "#   aws guardduty list-detectors --endpoint-url %s\n", s.Endpoint)
	fmt.Fprintf(w, "#   boto3.client(\"guardduty\", endpoint_url=\"%s\")\n", s.Endpoint)
	fmt.Fprintf(w, "\n# 2. A profile that carries the endpoint: AWS CLI v1 %s and later, v2 %s and\n"+
		"#    later, boto3 %s and later. Older versions (Debian 12's awscli is 2.9)\n"+
		"#    ignore endpoint_url and would send the signed request to AWS itself: use 1.\n",
		profileV1, profileV2, profileBoto3)
	fmt.Fprintf(w, "# ~/.aws/config\n[profile %s]\nregion = %s\nendpoint_url = %s\n\n", s.Profile, s.Region, s.Endpoint)
	fmt.Fprintf(w, "# ~/.aws/credentials\n[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n\n", s.Profile, c.AccessKeyID, string(c.SecretAccessKey))
	fmt.Fprintf(w, "#   aws --profile %s guardduty list-detectors\n", s.Profile)
	if s.AWSCLI == "" {
		return
	}
	version := strings.Fields(s.AWSCLI)[0]
	switch ok, known := ProfileEndpoint(s.AWSCLI); {
	case !known:
		fmt.Fprintf(w, "\n# The aws on this machine (%s): its version is not known here; form 1 works.\n", version)
	case ok:
		fmt.Fprintf(w, "\n# The aws on this machine (%s) takes both forms.\n", version)
	default:
		fmt.Fprintf(w, "\n# The aws on this machine (%s) ignores endpoint_url in a profile: use form 1.\n", version)
	}
}

// The first versions that take endpoint_url from a profile (the
// service-specific endpoints of the AWS SDKs and tools, 2023).
const (
	profileV1    = "1.29"
	profileV2    = "2.13"
	profileBoto3 = "1.28"
)

// ProfileEndpoint says whether an AWS CLI, by what its --version printed
// ("aws-cli/2.9.19 Python/3.11.2 ..."), takes endpoint_url from a
// profile; known is false when the text names no version it can read.
func ProfileEndpoint(versionOutput string) (ok, known bool) {
	f := strings.Fields(versionOutput)
	if len(f) == 0 {
		return false, false
	}
	v, found := strings.CutPrefix(f[0], "aws-cli/")
	if !found {
		return false, false
	}
	parts := strings.Split(v, ".")
	if len(parts) < 2 {
		return false, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false, false
	}
	switch major {
	case 1:
		return minor >= 29, true
	case 2:
		return minor >= 13, true
	}
	return major > 2, major > 2
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
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
