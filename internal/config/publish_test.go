package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestWebhookSecretFromEnvironment: secret_env names the variable that
// holds a webhook's secret; an unset one is a problem.
func TestWebhookSecretFromEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "picket.yaml")
	data := "publish:\n  webhooks:\n    - name: soc\n      url: https://hooks.example.com/x\n      secret_env: SOC_SECRET\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SOC_SECRET": "a-secret-from-the-environment"}
	cfg, err := Load(path, nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if got := string(cfg.Publish.Webhooks[0].Secret); got != env["SOC_SECRET"] {
		t.Errorf("secret %q, want the environment's", got)
	}
	_, err = Load(path, nil, func(string) string { return "" })
	var probs *Problems
	if !errors.As(err, &probs) || !strings.Contains(err.Error(), "publish.webhooks[0].secret_env: $SOC_SECRET is not set") {
		t.Errorf("Load without the variable: %v", err)
	}
}

// TestDestinations: publish.destinations takes its region from the
// configuration's and its secret from the environment; without the key
// picket has no way to the API's destinations.
func TestDestinations(t *testing.T) {
	cfg, err := Parse([]byte("region: eu-west-1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Publish.Destinations != nil {
		t.Errorf("destinations without the key: %+v", cfg.Publish.Destinations)
	}
	path := filepath.Join(t.TempDir(), "picket.yaml")
	data := "region: eu-west-1\npublish:\n  destinations:\n    endpoint: http://127.0.0.1:9000\n    path_style: true\n" +
		"    access_key_id: AKIDDEST\n    secret_access_key_env: DEST_SECRET\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DEST_SECRET": "a-secret-from-the-environment"}
	cfg, err = Load(path, nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Publish.Destinations
	if d == nil || d.Region != "eu-west-1" || d.Endpoint != "http://127.0.0.1:9000" || !d.PathStyle || d.AccessKeyID != "AKIDDEST" ||
		string(d.SecretAccessKey) != env["DEST_SECRET"] || d.SSEKMS {
		t.Errorf("destinations = %+v", d)
	}
	_, err = Load(path, nil, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "publish.destinations.secret_access_key_env: $DEST_SECRET is not set") {
		t.Errorf("Load without the variable: %v", err)
	}
	// An empty block means AWS S3 with the SDK's credentials.
	cfg, err = Parse([]byte("publish:\n  destinations: {}\n"))
	if err != nil || cfg.Publish.Destinations == nil || cfg.Publish.Destinations.Region != DefaultRegion {
		t.Errorf("an empty destinations block: %+v, %v", cfg.Publish.Destinations, err)
	}
}

// TestSecurityHub: publish.securityhub takes its region and account as
// given, with an endpoint and keys or without.
func TestSecurityHub(t *testing.T) {
	data, err := os.ReadFile("testdata/securityhub.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []SecurityHub{
		{
			Name: "hub", Region: "eu-central-1", Account: "123456789012",
			Endpoint:    "https://vpce-0123456789abcdef0-abcdefgh.securityhub.eu-central-1.vpce.amazonaws.com",
			AccessKeyID: "AKIAPICKETEXAMPLE02", SecretAccessKey: "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY",
		},
		{Name: "hub-member", Region: "eu-west-1", Account: "210987654321"},
	}
	if diff := cmp.Diff(want, cfg.Publish.SecurityHub); diff != "" {
		t.Errorf("publish.securityhub (-want +got):\n%s", diff)
	}
}
