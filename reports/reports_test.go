package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/gitchaos/gitchaos/harness/result"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestWriteAll writes the four files of a failing gate and reads each back.
func TestWriteAll(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gitchaos-report") // does not exist yet
	run := sampleFailingRun()
	if err := WriteAll(dir, run); err != nil {
		t.Fatalf("WriteAll: %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{FileHTML, FileJSON, FileMarkdown, FileJUnit} // ReadDir sorts
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("files in %s = %v, want exactly %v (no temporary files left)", dir, names, want)
	}

	// report.json is the run: it loads back and re-encodes to the same bytes.
	loaded, err := result.Load(filepath.Join(dir, FileJSON))
	if err != nil {
		t.Fatalf("load report.json: %v", err)
	}
	if got, want := loaded.Verdict(), run.Verdict(); got != want {
		t.Errorf("loaded verdict %s, want %s", got, want)
	}
	var a, b bytes.Buffer
	if err := WriteJSON(&a, run); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(&b, loaded); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Errorf("report.json does not round-trip:\nwrote  %d bytes\nreread %d bytes", a.Len(), b.Len())
	}
	onDisk, _ := os.ReadFile(filepath.Join(dir, FileJSON))
	if !bytes.Equal(onDisk, a.Bytes()) {
		t.Errorf("WriteJSON and result.Run.Save differ (%d vs %d bytes)", a.Len(), len(onDisk))
	}

	// Re-rendering the loaded run gives the same HTML, Markdown and JUnit:
	// `gitchaos report` reproduces what the gate wrote.
	for _, f := range []struct {
		name  string
		write func(*bytes.Buffer, *result.Run) error
	}{
		{FileHTML, func(w *bytes.Buffer, r *result.Run) error { return WriteHTML(w, r) }},
		{FileMarkdown, func(w *bytes.Buffer, r *result.Run) error { return WriteMarkdown(w, r) }},
		{FileJUnit, func(w *bytes.Buffer, r *result.Run) error { return WriteJUnit(w, r) }},
	} {
		var buf bytes.Buffer
		if err := f.write(&buf, loaded); err != nil {
			t.Fatalf("re-render %s: %v", f.name, err)
		}
		disk, err := os.ReadFile(filepath.Join(dir, f.name))
		if err != nil {
			t.Fatal(err)
		}
		if len(disk) == 0 || !bytes.Equal(disk, buf.Bytes()) {
			t.Errorf("%s re-rendered from report.json differs from the one WriteAll wrote (%d vs %d bytes)", f.name, buf.Len(), len(disk))
		}
	}
}

func TestWriteAllBadInput(t *testing.T) {
	if err := WriteAll(t.TempDir(), nil); err == nil {
		t.Error("WriteAll(nil run): no error")
	}
	if err := WriteAll("", samplePassingRun()); err == nil || !strings.Contains(err.Error(), "output directory") {
		t.Errorf("WriteAll(\"\"): err = %v, want one naming the output directory", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteAll(file, samplePassingRun()); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("WriteAll(a file): err = %v, want one naming %s", err, file)
	}
	for name, w := range map[string]func(*bytes.Buffer) error{
		"json":     func(b *bytes.Buffer) error { return WriteJSON(b, nil) },
		"html":     func(b *bytes.Buffer) error { return WriteHTML(b, nil) },
		"markdown": func(b *bytes.Buffer) error { return WriteMarkdown(b, nil) },
		"junit":    func(b *bytes.Buffer) error { return WriteJUnit(b, nil) },
	} {
		if err := w(&bytes.Buffer{}); err == nil {
			t.Errorf("%s writer accepted a nil run", name)
		}
	}
}

// TestWriteFileAtomic: a renderer that fails leaves neither the target nor
// a temporary file behind, and an existing report is kept.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileHTML)
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := WriteFile(path, samplePassingRun(), func(w io.Writer, r *result.Run) error {
		_, _ = w.Write([]byte("half a rep"))
		return errors.New("renderer broke")
	})
	if err == nil || !strings.Contains(err.Error(), "renderer broke") || !strings.Contains(err.Error(), path) {
		t.Fatalf("WriteFile: err = %v, want the renderer's error and the path", err)
	}
	got, _ := os.ReadFile(path)
	entries, _ := os.ReadDir(dir)
	if string(got) != "old" || len(entries) != 1 {
		t.Errorf("after a failed render: %s = %q, %d files in dir; want the old report untouched and no temp file", path, got, len(entries))
	}
}

// TestJSONShape pins the field names scripts read from report.json.
func TestJSONShape(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, sampleFailingRun()); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		ID        string `json:"id"`
		Scenarios []struct {
			Name   string `json:"name"`
			Checks []struct {
				Name, Measured, Budget, Verdict, Series string
				Value, Limit                            float64
			} `json:"checks"`
			Series []struct {
				Name  string `json:"name"`
				XUnit string `json:"x_unit"`
				Fit   *struct {
					Slope  float64 `json:"slope"`
					Budget float64 `json:"budget"`
				} `json:"fit"`
			} `json:"series"`
		} `json:"scenarios"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	churn := doc.Scenarios[0]
	c := churn.Checks[0]
	if c.Name != "fds flat" || c.Verdict != "fail" || c.Measured != "+1.02 fds/cycle" || c.Value != 1.02 || c.Series != "fds per cycle" {
		t.Errorf("first check = %+v, want the failing fds check with its numbers", c)
	}
	s := churn.Series[0]
	if s.XUnit != "cycle" || s.Fit == nil || s.Fit.Slope != 1.02 {
		t.Errorf("first series = %+v, want per-cycle fds with its fit", s)
	}
}

// TestEmptyRun: a run with no scenarios (everything filtered out, or an
// interrupted start) renders in every format and says so.
func TestEmptyRun(t *testing.T) {
	run := &result.Run{ID: "empty", Kind: "gate"}
	dir := t.TempDir()
	if err := WriteAll(dir, run); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		FileHTML:     "no scenarios ran",
		FileMarkdown: "No checks ran.",
		FileJUnit:    `tests="0"`,
	} {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %q:\n%s", file, want, b)
		}
	}
}
