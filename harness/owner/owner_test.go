package owner

import (
	"os"
	"os/exec"
	"testing"
)

func TestOwner(t *testing.T) {
	self := Self()
	if self.PID != os.Getpid() || self.Start == 0 {
		t.Fatalf("Self() = %+v, want this pid with a start time", self)
	}
	got, err := Parse(self.String())
	if err != nil || got != self {
		t.Fatalf("Parse(%q) = %+v, %v", self.String(), got, err)
	}
	if !self.Alive() {
		t.Error("this process is not Alive")
	}
	if (ID{PID: self.PID, Start: self.Start + 1}).Alive() {
		t.Error("a reused pid (other start time) counts as alive")
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	if (ID{PID: dead.Process.Pid}).Alive() {
		t.Errorf("exited pid %d counts as alive", dead.Process.Pid)
	}
	for _, bad := range []string{"", "x.1", "-3.1", "12.x"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q): no error", bad)
		}
	}
}
