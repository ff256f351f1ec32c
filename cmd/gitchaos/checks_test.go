package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestChecksLists: gitchaos checks prints every declared check (--json for
// tools, --gate for one gate); an unknown gate is a usage error.
func TestChecksLists(t *testing.T) {
	code, out, errs := runCLI(t, "checks", "--json")
	if code != exitOK {
		t.Fatalf("checks --json: exit %d: %s", code, errs)
	}
	var list []struct{ ID, Gate, Title, Unit, Guards string }
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("checks --json: %v\n%s", err, out)
	}
	ids := map[string]string{}
	for _, c := range list {
		if c.ID == "" || c.Gate == "" || c.Title == "" || c.Guards == "" || !strings.HasPrefix(c.ID, c.Gate+".") {
			t.Errorf("incomplete check %+v", c)
		}
		ids[c.ID] = c.Title
	}
	if ids["churn.fds-flat"] != "fds flat across churn cycles" || ids["runner.target-up"] != "target process stays up" {
		t.Errorf("checks --json lacks churn.fds-flat or runner.target-up: %v", ids)
	}
	code, out, _ = runCLI(t, "checks", "--gate", "boot")
	if code != exitOK || !strings.Contains(out, "boot.first-healthy") || strings.Contains(out, "churn.") {
		t.Errorf("checks --gate boot: exit %d\n%s", code, out)
	}
	if code, _, _ := runCLI(t, "checks", "--gate", "nope"); code != exitUsage {
		t.Errorf("checks --gate nope: exit %d, want %d", code, exitUsage)
	}
}
