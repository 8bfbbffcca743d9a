package composestack

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// repoRoot is the module root, where docker-compose.yml and the Dockerfile live.
const repoRoot = "../.."

var (
	imageOnce sync.Once
	imageDir  string // holds the built hubline, readable by the image's user
	imageErr  error
)

// imageBinary builds hubline as the Dockerfile does, once per test process, into a directory
// any user can read (the image's user must be able to run it).
func imageBinary(t *testing.T) string {
	t.Helper()
	imageOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hubline-image-")
		if err == nil {
			err = os.Chmod(dir, 0o755)
		}
		if err != nil {
			imageErr = err
			return
		}
		imageDir = dir
		out, err := exec.Command(filepath.Join(repoRoot, "scripts", "build-image.sh"), filepath.Join(dir, "hubline")).CombinedOutput()
		if err != nil {
			imageErr = fmt.Errorf("scripts/build-image.sh: %w\n%s", err, out)
		}
	})
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	return filepath.Join(imageDir, "hubline")
}

// dockerfile is what the tests read from the Dockerfile's final stage.
type dockerfile struct {
	buildOutput string   // the path the RUN of scripts/build-image.sh writes
	copied      string   // where the final stage copies that binary to
	entrypoint  string   // ENTRYPOINT's program
	uid, gid    uint32   // USER, numeric
	user        string   // USER as written
	runs        []string // RUN lines of every stage
}

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	return parseDockerfile(b)
}

func parseDockerfile(b []byte) dockerfile {
	var d dockerfile
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() { // join continuation lines, drop comments
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		if n := len(lines); n > 0 && strings.HasSuffix(lines[n-1], "\\") {
			lines[n-1] = strings.TrimSuffix(lines[n-1], "\\") + " " + line
			continue
		}
		lines = append(lines, line)
	}
	for _, line := range lines {
		instr, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(instr) {
		case "FROM": // a new stage: only the last one's USER and COPY count
			d.user, d.copied = "", ""
		case "RUN":
			d.runs = append(d.runs, rest)
			if f := strings.Fields(rest); len(f) == 2 && f[0] == "scripts/build-image.sh" {
				d.buildOutput = f[1]
			}
		case "COPY":
			if f := strings.Fields(rest); len(f) == 3 && strings.HasPrefix(f[0], "--from=") && f[1] == d.buildOutput {
				d.copied = f[2]
			}
		case "USER":
			d.user = rest
		case "ENTRYPOINT":
			if m := regexp.MustCompile(`^\["([^"]+)"`).FindStringSubmatch(rest); m != nil {
				d.entrypoint = m[1]
			}
		}
	}
	if m := regexp.MustCompile(`^(\d+):(\d+)$`).FindStringSubmatch(d.user); m != nil {
		uid, _ := strconv.ParseUint(m[1], 10, 32)
		gid, _ := strconv.ParseUint(m[2], 10, 32)
		d.uid, d.gid = uint32(uid), uint32(gid)
	}
	return d
}

// problems says what is wrong with the image d builds: it must be built by
// scripts/build-image.sh (the script CI runs), ship that binary as its entrypoint and run it
// as a numeric non-root user (Kubernetes' runAsNonRoot can only verify a numeric USER).
func (d dockerfile) problems() []string {
	var p []string
	if d.buildOutput == "" {
		p = append(p, "it does not build with RUN scripts/build-image.sh OUTPUT")
	}
	for _, run := range d.runs {
		if strings.Contains(run, "go build") {
			p = append(p, fmt.Sprintf("it runs go build itself (%q): build through scripts/build-image.sh so CI tests the same build", run))
		}
	}
	if d.copied == "" || d.entrypoint != d.copied {
		p = append(p, fmt.Sprintf("the final stage should copy %s and make it the ENTRYPOINT: copied to %q, entrypoint %q", d.buildOutput, d.copied, d.entrypoint))
	}
	if !regexp.MustCompile(`^\d+:\d+$`).MatchString(d.user) {
		p = append(p, fmt.Sprintf("the final stage's USER is %q; want a numeric uid:gid", d.user))
	} else if d.uid == 0 || d.gid == 0 {
		p = append(p, fmt.Sprintf("the final stage's USER %q is root", d.user))
	}
	return p
}

func TestDockerfile(t *testing.T) {
	for _, p := range readDockerfile(t).problems() {
		t.Error("Dockerfile: " + p)
	}
	const good = "FROM golang AS build\nRUN scripts/build-image.sh /out/hubline\nFROM debian\nUSER 0:0\nFROM debian\nCOPY --from=build /out/hubline /hubline\nUSER 10001:10001\nENTRYPOINT [\"/hubline\"]\n"
	if p := parseDockerfile([]byte(good)).problems(); len(p) != 0 {
		t.Errorf("a good Dockerfile: %v", p)
	}
	// Each of these must be caught.
	for name, bad := range map[string]string{
		"root user":       strings.Replace(good, "USER 10001:10001", "USER 0:0", 1),
		"named user":      strings.Replace(good, "USER 10001:10001", "USER hubline", 1),
		"no user":         strings.Replace(good, "USER 10001:10001\n", "", 1),
		"root group":      strings.Replace(good, "USER 10001:10001", "USER 10001:0", 1),
		"own go build":    strings.Replace(good, "RUN scripts/build-image.sh /out/hubline", "RUN scripts/build-image.sh /out/hubline\nRUN CGO_ENABLED=1 go build -o /out/hubline ./cmd/hubline", 1),
		"other binary":    strings.Replace(good, "COPY --from=build /out/hubline /hubline", "COPY --from=build /out/other /hubline", 1),
		"other entry":     strings.Replace(good, `ENTRYPOINT ["/hubline"]`, `ENTRYPOINT ["/bin/sh"]`, 1),
		"no build script": strings.Replace(good, "RUN scripts/build-image.sh /out/hubline", "RUN make", 1),
	} {
		if len(parseDockerfile([]byte(bad)).problems()) == 0 {
			t.Errorf("%s: not caught", name)
		}
	}
}

// staticProblems says why bin is not a static executable, as go version -m, file(1) and
// ldd(1) see it (the latter two where installed).
func staticProblems(t *testing.T, bin string) []string {
	t.Helper()
	var p []string
	out, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "CGO_ENABLED=0") {
		p = append(p, fmt.Sprintf("go version -m: no build setting CGO_ENABLED=0 (err %v)", err))
	}
	if _, err := exec.LookPath("file"); err == nil {
		out, err := exec.Command("file", "-b", "-L", bin).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "statically linked") {
			p = append(p, fmt.Sprintf("file: %s", bytes.TrimSpace(out)))
		}
	} else {
		t.Log("file(1) is not installed: not asked")
	}
	if _, err := exec.LookPath("ldd"); err == nil {
		out, _ := exec.Command("ldd", bin).CombinedOutput() // exits 1 for a static binary
		if !strings.Contains(string(out), "not a dynamic executable") && !strings.Contains(string(out), "statically linked") {
			p = append(p, fmt.Sprintf("ldd lists shared libraries: %s", bytes.TrimSpace(out)))
		}
	}
	return p
}

// TestImageBinary: the binary scripts/build-image.sh builds is static (the runtime image has
// no C toolchain and may have another C library) and runs as the image's non-root user.
func TestImageBinary(t *testing.T) {
	bin := imageBinary(t)
	for _, p := range staticProblems(t, bin) {
		t.Errorf("%s is not static: %s", bin, p)
	}
	// The check itself tells a dynamic executable apart.
	if sh, err := exec.LookPath("sh"); err == nil && len(staticProblems(t, sh)) == 0 {
		t.Errorf("the static check passes %s, a dynamically linked program", sh)
	}

	d := readDockerfile(t)
	cmd := exec.Command(bin, "--help")
	cmd.Dir = "/" // the image sets no WORKDIR
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	asImageUser(t, cmd, d)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "worker") {
		t.Errorf("hubline --help as %s: %v\n%s", d.user, err, out)
	}
}

// asImageUser makes cmd run as the Dockerfile's USER. Only root can switch users; as anyone
// else the test already runs without root, which is what the check is about.
func asImageUser(t *testing.T, cmd *exec.Cmd, d dockerfile) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Logf("not root: running %s as uid %d, not the image's %s", filepath.Base(cmd.Path), os.Geteuid(), d.user)
		return
	}
	if d.uid == 0 {
		t.Fatalf("the Dockerfile's USER %q is not a numeric non-root user", d.user)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: d.uid, Gid: d.gid, Groups: []uint32{}}}
}
