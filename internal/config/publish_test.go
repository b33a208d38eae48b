package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
