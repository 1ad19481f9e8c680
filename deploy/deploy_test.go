// Package deploy holds the deployment files of wxavatar (the Dockerfile and
// .dockerignore at the top of the repository, the systemd unit and the
// Kubernetes example here). Its test checks the invariants that matter in
// production and that nothing else would catch before a deploy: probes on
// the right paths and port, non-root and read-only containers, the key
// Secret mounted as a directory that SIGHUP rereads, a grace period longer
// than the drain, a static non-root image, and a reload that really reloads;
// and that the bucket setup in README.md (CAM and bucket policies, CORS,
// lifecycle) follows the key layout and the COS calls of the code;
// providers_test.go does the same for OSS and S3.
package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/wxavatar/wxavatar/storage"
)

// The service's contract, from cmd/wxavatar and handler/.
const (
	modulePath  = "github.com/wxavatar/wxavatar"
	apiPort     = 8080 // ADDR's default, :8080
	healthPath  = "/healthz"
	readyPath   = "/readyz"
	nonRootUID  = 65532
	keysMount   = "/etc/wxavatar/keys"
	envFilePath = "/etc/wxavatar/wxavatar.env"
)

// secretSettings are the settings that may come from a file (NAME_FILE) and
// that SIGHUP rereads: every storage provider's credentials among them
// (TestSecretSettingsFollowConfig keeps them in step with cmd/wxavatar).
var secretSettings = []string{"WECHAT_SECRET", "WECHAT_PUSH_TOKEN", "WECHAT_PUSH_AES_KEY", "JWT_KEYS",
	"COS_SECRET_ID", "COS_SECRET_KEY", "COS_SESSION_TOKEN",
	"OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET", "OSS_SECURITY_TOKEN",
	"S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "S3_SESSION_TOKEN"}

// fileSecrets are the keys `serve` needs in production, which every example
// takes from files: the WeChat secret, the message push's Token and
// EncodingAESKey (required with content security, on wherever WECHAT_APPID
// is set: avatar verdicts arrive by push), the JWT keys and the COS key.
var fileSecrets = []string{"WECHAT_SECRET", "WECHAT_PUSH_TOKEN", "WECHAT_PUSH_AES_KEY", "JWT_KEYS", "COS_SECRET_ID", "COS_SECRET_KEY"}

// ---- Kubernetes -----------------------------------------------------------

type objectMeta struct {
	Name        string            `yaml:"name"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type labelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type manifest struct {
	APIVersion string            `yaml:"apiVersion"`
	Kind       string            `yaml:"kind"`
	Metadata   objectMeta        `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	file       string
	node       *yaml.Node
}

type deployment struct {
	Spec struct {
		Replicas int           `yaml:"replicas"`
		Selector labelSelector `yaml:"selector"`
		Strategy struct {
			Type          string `yaml:"type"`
			RollingUpdate struct {
				MaxUnavailable any `yaml:"maxUnavailable"`
			} `yaml:"rollingUpdate"`
		} `yaml:"strategy"`
		Template podTemplate `yaml:"template"`
	} `yaml:"spec"`
}

type job struct {
	Spec struct {
		Template podTemplate `yaml:"template"`
	} `yaml:"spec"`
}

type service struct {
	Spec struct {
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort any    `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type pdb struct {
	Spec struct {
		Selector labelSelector `yaml:"selector"`
	} `yaml:"spec"`
}

type podTemplate struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     podSpec    `yaml:"spec"`
}

type podSpec struct {
	ShareProcessNamespace         bool        `yaml:"shareProcessNamespace"`
	TerminationGracePeriodSeconds *int        `yaml:"terminationGracePeriodSeconds"`
	AutomountServiceAccountToken  *bool       `yaml:"automountServiceAccountToken"`
	RestartPolicy                 string      `yaml:"restartPolicy"`
	SecurityContext               podSecurity `yaml:"securityContext"`
	Containers                    []container `yaml:"containers"`
	InitContainers                []container `yaml:"initContainers"`
	Volumes                       []struct {
		Name   string `yaml:"name"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
			Items      []any  `yaml:"items"`
		} `yaml:"secret"`
	} `yaml:"volumes"`
}

type podSecurity struct {
	RunAsNonRoot   *bool  `yaml:"runAsNonRoot"`
	RunAsUser      *int64 `yaml:"runAsUser"`
	RunAsGroup     *int64 `yaml:"runAsGroup"`
	SeccompProfile struct {
		Type string `yaml:"type"`
	} `yaml:"seccompProfile"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Ports   []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
		SecretRef *struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		SubPath   string `yaml:"subPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
	StartupProbe   *probe `yaml:"startupProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	Lifecycle      *struct {
		PreStop *struct {
			Sleep *struct {
				Seconds int `yaml:"seconds"`
			} `yaml:"sleep"`
			Exec any `yaml:"exec"`
		} `yaml:"preStop"`
	} `yaml:"lifecycle"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext *struct {
		RunAsNonRoot             *bool  `yaml:"runAsNonRoot"`
		RunAsUser                *int64 `yaml:"runAsUser"`
		AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool  `yaml:"readOnlyRootFilesystem"`
		Privileged               *bool  `yaml:"privileged"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
			Add  []string `yaml:"add"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
	PeriodSeconds    int `yaml:"periodSeconds"`
	TimeoutSeconds   int `yaml:"timeoutSeconds"`
	FailureThreshold int `yaml:"failureThreshold"`
}

// loadManifests reads every YAML document under kubernetes/.
func loadManifests(t *testing.T) []manifest {
	t.Helper()
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests under deploy/kubernetes: %v", err)
	}
	var all []manifest
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for i := 0; ; i++ {
			var n yaml.Node
			err := dec.Decode(&n)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: document %d: %v", f, i, err)
			}
			var m manifest
			if err := n.Decode(&m); err != nil {
				t.Fatalf("%s: document %d: %v", f, i, err)
			}
			if m.APIVersion == "" || m.Kind == "" || m.Metadata.Name == "" {
				t.Fatalf("%s: document %d: want apiVersion, kind and metadata.name", f, i)
			}
			m.file, m.node = f, &n
			all = append(all, m)
		}
	}
	return all
}

func find(t *testing.T, all []manifest, kind string) []manifest {
	t.Helper()
	var out []manifest
	for _, m := range all {
		if m.Kind == kind {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no %s in deploy/kubernetes", kind)
	}
	return out
}

func decode[T any](t *testing.T, m manifest) T {
	t.Helper()
	var v T
	if err := m.node.Decode(&v); err != nil {
		t.Fatalf("%s: %s %s: %v", m.file, m.Kind, m.Metadata.Name, err)
	}
	return v
}

func containerNamed(t *testing.T, spec podSpec, name string) container {
	t.Helper()
	for _, c := range spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %q", name)
	return container{}
}

func TestManifestsAreWellFormed(t *testing.T) {
	seen := map[string]string{}
	for _, m := range loadManifests(t) {
		id := m.Kind + "/" + m.Metadata.Name
		if prev, ok := seen[id]; ok {
			t.Errorf("%s defined twice (%s, %s)", id, prev, m.file)
		}
		seen[id] = m.file
		if m.Metadata.Labels["app.kubernetes.io/name"] != "wxavatar" {
			t.Errorf("%s: %s: want label app.kubernetes.io/name=wxavatar", m.file, id)
		}
	}
}

// shutdownGrace reads the drain after SIGTERM from cmd/wxavatar/run.go, so
// that the grace periods here follow it.
func shutdownGrace(t *testing.T) time.Duration {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../cmd/wxavatar/run.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if name.Name != "shutdownGrace" || i >= len(vs.Values) {
					continue
				}
				// N * time.Second
				if b, ok := vs.Values[i].(*ast.BinaryExpr); ok && b.Op == token.MUL {
					lit, ok1 := b.X.(*ast.BasicLit)
					sel, ok2 := b.Y.(*ast.SelectorExpr)
					if ok1 && ok2 && sel.Sel.Name == "Second" {
						n, err := strconv.Atoi(lit.Value)
						if err == nil {
							return time.Duration(n) * time.Second
						}
					}
				}
			}
		}
	}
	t.Fatal("cmd/wxavatar/run.go: no `const shutdownGrace = N * time.Second`; update deploy_test.go to find the drain time")
	return 0
}

func TestDeployment(t *testing.T) {
	all := loadManifests(t)
	dm := find(t, all, "Deployment")[0]
	d := decode[deployment](t, dm)
	pod := d.Spec.Template.Spec

	if d.Spec.Replicas < 2 {
		t.Errorf("replicas = %d: the PostgreSQL example runs several", d.Spec.Replicas)
	}
	if mu := d.Spec.Strategy.RollingUpdate.MaxUnavailable; (d.Spec.Strategy.Type == "RollingUpdate" || d.Spec.Strategy.Type == "") && mu != 0 && mu != "0" && mu != "0%" {
		t.Errorf("rollingUpdate.maxUnavailable = %v: a rollout should never go below the replica count", mu)
	}

	// Pod security.
	sc := pod.SecurityContext
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Error("pod securityContext.runAsNonRoot must be true")
	}
	if sc.RunAsUser == nil || *sc.RunAsUser != nonRootUID {
		t.Errorf("pod securityContext.runAsUser must be %d (the image's user)", nonRootUID)
	}
	if sc.SeccompProfile.Type != "RuntimeDefault" {
		t.Error("pod securityContext.seccompProfile.type must be RuntimeDefault")
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("automountServiceAccountToken must be false: wxavatar never talks to the API server")
	}
	for _, c := range append(pod.Containers, pod.InitContainers...) {
		checkContainerSecurity(t, "Deployment", c)
	}

	app := containerNamed(t, pod, "wxavatar")
	if len(app.Args) == 0 || app.Args[0] != "serve" || slices.Contains(app.Args, "--dev") {
		t.Errorf("wxavatar args = %q, want [serve] (never --dev)", app.Args)
	}
	if app.Resources.Requests["memory"] == "" || app.Resources.Limits["memory"] == "" {
		t.Error("wxavatar needs a memory request and limit")
	}

	// Ports and probes.
	ports := map[string]int{}
	for _, p := range app.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["http"] != apiPort {
		t.Errorf("container port http = %d, want %d (ADDR's default)", ports["http"], apiPort)
	}
	checkProbe := func(name string, p *probe, path string) {
		t.Helper()
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s: want an httpGet probe on %s", name, path)
			return
		}
		if p.HTTPGet.Path != path {
			t.Errorf("%s: path %q, want %q", name, p.HTTPGet.Path, path)
		}
		if port := p.HTTPGet.Port; port != "http" && port != apiPort {
			t.Errorf("%s: port %v, want http (%d)", name, port, apiPort)
		}
	}
	checkProbe("livenessProbe", app.LivenessProbe, healthPath)
	checkProbe("readinessProbe", app.ReadinessProbe, readyPath)
	if app.StartupProbe != nil {
		checkProbe("startupProbe", app.StartupProbe, healthPath)
	}
	// /readyz bounds its checks at 3 s: a shorter probe timeout would fail
	// pods that are merely slow to hear from COS.
	if p := app.ReadinessProbe; p != nil && p.TimeoutSeconds < 4 {
		t.Errorf("readinessProbe.timeoutSeconds = %d, want ≥ 4 (/readyz may take 3 s)", p.TimeoutSeconds)
	}

	// Graceful shutdown: preStop sleep, then SIGTERM and the drain, all within
	// the grace period.
	preStop := 0
	if app.Lifecycle == nil || app.Lifecycle.PreStop == nil || app.Lifecycle.PreStop.Sleep == nil {
		t.Error("wxavatar needs lifecycle.preStop.sleep (the image has no shell for an exec hook)")
	} else {
		preStop = app.Lifecycle.PreStop.Sleep.Seconds
		if preStop <= 0 {
			t.Error("preStop.sleep.seconds must be > 0")
		}
	}
	if app.Lifecycle != nil && app.Lifecycle.PreStop != nil && app.Lifecycle.PreStop.Exec != nil {
		t.Error("preStop exec needs a shell; the distroless image has none")
	}
	drain := int(shutdownGrace(t) / time.Second)
	if g := pod.TerminationGracePeriodSeconds; g == nil || *g < preStop+drain+1 || *g < 20 {
		t.Errorf("terminationGracePeriodSeconds must be ≥ preStop (%d) + drain (%d) + 1 and ≥ 20", preStop, drain)
	}

	// Keys: a Secret volume mounted as a directory, the *_FILE settings
	// pointing into it, every file a key of the Secret.
	keysVolume := ""
	for _, v := range pod.Volumes {
		if v.Secret != nil && v.Secret.SecretName == "wxavatar-keys" {
			keysVolume = v.Name
			if len(v.Secret.Items) > 0 {
				t.Error("the keys Secret volume lists items: a key added later would not appear; mount the whole Secret")
			}
		}
	}
	if keysVolume == "" {
		t.Fatal("no volume from the Secret wxavatar-keys")
	}
	mountOf := func(c container) string {
		for _, m := range c.VolumeMounts {
			if m.Name == keysVolume {
				if m.SubPath != "" {
					t.Errorf("%s mounts the keys with subPath: the kubelet never updates subPath mounts, so rotation would not reach it", c.Name)
				}
				if !m.ReadOnly {
					t.Errorf("%s mounts the keys read-write", c.Name)
				}
				return m.MountPath
			}
		}
		return ""
	}
	if got := mountOf(app); got != keysMount {
		t.Fatalf("wxavatar mounts the keys at %q, want %q", got, keysMount)
	}
	secretKeys := map[string]bool{}
	for _, s := range find(t, all, "Secret") {
		if s.Metadata.Name == "wxavatar-keys" {
			for k := range s.StringData {
				secretKeys[k] = true
			}
			for k := range s.Data {
				secretKeys[k] = true
			}
		}
	}
	fileSettings := map[string]bool{}
	for _, e := range app.Env {
		name, ok := strings.CutSuffix(e.Name, "_FILE")
		if !ok {
			continue
		}
		if !slices.Contains(secretSettings, name) {
			t.Errorf("env %s: wxavatar reads no such file setting", e.Name)
		}
		fileSettings[name] = true
		dir, file := path.Split(e.Value)
		if path.Clean(dir) != keysMount {
			t.Errorf("env %s=%s: not in the mounted Secret %s, so SIGHUP would not see a rotation", e.Name, e.Value, keysMount)
		}
		if !secretKeys[file] {
			t.Errorf("env %s=%s: the Secret wxavatar-keys (secret.example.yaml) has no key %q", e.Name, e.Value, file)
		}
	}
	for _, name := range fileSecrets {
		if !fileSettings[name] {
			t.Errorf("wxavatar: %s_FILE unset: the key must come from the mounted Secret to rotate with SIGHUP", name)
		}
		for _, e := range app.Env {
			if e.Name == name {
				t.Errorf("wxavatar: %s set directly: environment values never change on SIGHUP", name)
			}
		}
	}
	checkDatabaseURL(t, "Deployment", app, all)

	// The reloader: sees the same mount, can signal wxavatar, signals HUP.
	var reloader *container
	for i := range pod.Containers {
		if pod.Containers[i].Name != "wxavatar" {
			reloader = &pod.Containers[i]
		}
	}
	if reloader == nil {
		t.Fatal("no key-reloader sidecar: nothing would send SIGHUP when the Secret changes")
	}
	if !pod.ShareProcessNamespace {
		t.Error("shareProcessNamespace must be true: the sidecar signals wxavatar's process")
	}
	if got := mountOf(*reloader); got != keysMount {
		t.Errorf("%s watches %q, want the same mount as wxavatar (%s)", reloader.Name, got, keysMount)
	}
	script := strings.Join(append(reloader.Command, reloader.Args...), " ")
	for _, want := range []string{keysMount, "..data", "pidof wxavatar", "kill -HUP"} {
		if !strings.Contains(script, want) {
			t.Errorf("%s: script does not mention %q", reloader.Name, want)
		}
	}
	// Kubernetes expands $(NAME) of defined variables in command and args:
	// the script must not collide with one.
	for _, e := range reloader.Env {
		if strings.Contains(script, "$("+e.Name+")") {
			t.Errorf("%s: $(%s) in the script would be expanded by Kubernetes", reloader.Name, e.Name)
		}
	}

	// Settings: the ConfigMap is loaded, and its ports agree with the
	// container's.
	cm := configMap(t, all)
	loaded := false
	for _, ef := range app.EnvFrom {
		if ef.ConfigMapRef != nil && ef.ConfigMapRef.Name == cm.Metadata.Name {
			loaded = true
		}
		if ef.SecretRef != nil {
			t.Error("envFrom a Secret: keys in the environment never change on SIGHUP; mount them as files")
		}
	}
	if !loaded {
		t.Errorf("wxavatar does not load the ConfigMap %s", cm.Metadata.Name)
	}
	if addr := cm.Data["ADDR"]; addr != "" && portOf(t, "ADDR", addr) != apiPort {
		t.Errorf("ADDR=%s, but the probes and the Service use %d", addr, apiPort)
	}
	// /metrics has its own listener, 127.0.0.1:9090 unless METRICS_ADDR says
	// otherwise ("off" turns it off), and the API port never serves it. In a
	// pod that default is out of Prometheus' reach: the ConfigMap must name
	// the container port "metrics", or turn metrics off along with the port.
	scrape := d.Spec.Template.Metadata.Annotations
	switch addr := cm.Data["METRICS_ADDR"]; addr {
	case "":
		t.Error("the ConfigMap does not set METRICS_ADDR: the default, 127.0.0.1:9090, is the pod's loopback, which Prometheus cannot reach (set \":9090\", or \"off\")")
	case "off":
		if _, ok := ports["metrics"]; ok {
			t.Error("METRICS_ADDR=off, but the container declares a metrics port")
		}
		if scrape["prometheus.io/scrape"] == "true" {
			t.Error("METRICS_ADDR=off, but the pod asks Prometheus to scrape it")
		}
	default:
		p := portOf(t, "METRICS_ADDR", addr)
		if ports["metrics"] != p {
			t.Errorf("METRICS_ADDR=%s, but container port metrics = %d", addr, ports["metrics"])
		}
		if p == apiPort {
			t.Errorf("METRICS_ADDR=%s: the API port; /metrics needs a listener of its own", addr)
		}
		if host, _, _ := net.SplitHostPort(addr); host == "localhost" || net.ParseIP(host).IsLoopback() {
			t.Errorf("METRICS_ADDR=%s: Prometheus cannot reach loopback in a pod", addr)
		}
		if ann, ok := scrape["prometheus.io/port"]; ok && ann != strconv.Itoa(p) {
			t.Errorf("annotation prometheus.io/port=%s, but METRICS_ADDR=%s", ann, addr)
		}
	}
	if _, ok := cm.Data["TRUSTED_PROXIES"]; !ok {
		t.Error("the ConfigMap should set TRUSTED_PROXIES: behind an ingress, every client shares its address otherwise")
	}
}

func checkContainerSecurity(t *testing.T, owner string, c container) {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil {
		t.Errorf("%s: container %s has no securityContext", owner, c.Name)
		return
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s: %s: allowPrivilegeEscalation must be false", owner, c.Name)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("%s: %s: readOnlyRootFilesystem must be true", owner, c.Name)
	}
	if !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		t.Errorf("%s: %s: capabilities must drop ALL and add none", owner, c.Name)
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Errorf("%s: %s: privileged", owner, c.Name)
	}
	if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		t.Errorf("%s: %s: runs as root", owner, c.Name)
	}
}

func checkDatabaseURL(t *testing.T, owner string, c container, all []manifest) {
	t.Helper()
	for _, e := range c.Env {
		if e.Name != "DATABASE_URL" {
			continue
		}
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Errorf("%s: DATABASE_URL must come from a Secret (it holds the password)", owner)
			return
		}
		ref := e.ValueFrom.SecretKeyRef
		for _, s := range find(t, all, "Secret") {
			if s.Metadata.Name == ref.Name {
				url := s.StringData[ref.Key]
				if url == "" && s.Data[ref.Key] == "" {
					t.Errorf("%s: DATABASE_URL: Secret %s has no key %s", owner, ref.Name, ref.Key)
				}
				if url != "" && !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") {
					t.Errorf("%s: DATABASE_URL example is not PostgreSQL, which several replicas need", owner)
				}
				return
			}
		}
		t.Errorf("%s: DATABASE_URL: no Secret %s", owner, ref.Name)
		return
	}
	t.Errorf("%s: DATABASE_URL unset: the default is SQLite in the container", owner)
}

func configMap(t *testing.T, all []manifest) manifest {
	t.Helper()
	cms := find(t, all, "ConfigMap")
	if len(cms) != 1 {
		t.Fatalf("want one ConfigMap, have %d", len(cms))
	}
	return cms[0]
}

func portOf(t *testing.T, name, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	n, err2 := strconv.Atoi(p)
	if err != nil || err2 != nil {
		t.Errorf("%s=%q: want host:port", name, addr)
	}
	return n
}

func TestMigrateJob(t *testing.T) {
	all := loadManifests(t)
	j := decode[job](t, find(t, all, "Job")[0])
	d := decode[deployment](t, find(t, all, "Deployment")[0])
	pod := j.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("the migrate Job has %d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if len(c.Args) == 0 || c.Args[0] != "migrate" {
		t.Errorf("Job args = %q, want [migrate]", c.Args)
	}
	if app := containerNamed(t, d.Spec.Template.Spec, "wxavatar"); c.Image != app.Image {
		t.Errorf("Job image %q differs from the Deployment's %q", c.Image, app.Image)
	}
	if pod.RestartPolicy != "Never" && pod.RestartPolicy != "OnFailure" {
		t.Errorf("Job restartPolicy = %q", pod.RestartPolicy)
	}
	if sc := pod.SecurityContext; sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.SeccompProfile.Type != "RuntimeDefault" {
		t.Error("Job pod: runAsNonRoot and seccompProfile RuntimeDefault")
	}
	checkContainerSecurity(t, "Job", c)
	checkDatabaseURL(t, "Job", c, all)
	// Job pods must not receive the Service's traffic.
	if matches(decode[service](t, find(t, all, "Service")[0]).Spec.Selector, j.Spec.Template.Metadata.Labels) {
		t.Error("the Service selects the migrate Job's pods")
	}
	// Nor count toward the Deployment's disruption budget.
	if matches(decode[pdb](t, find(t, all, "PodDisruptionBudget")[0]).Spec.Selector.MatchLabels, j.Spec.Template.Metadata.Labels) {
		t.Error("the PodDisruptionBudget selects the migrate Job's pods")
	}
}

func matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestServiceAndBudgetSelectThePods(t *testing.T) {
	all := loadManifests(t)
	d := decode[deployment](t, find(t, all, "Deployment")[0])
	labels := d.Spec.Template.Metadata.Labels
	if !matches(d.Spec.Selector.MatchLabels, labels) {
		t.Error("the Deployment's selector does not match its pod labels")
	}
	app := containerNamed(t, d.Spec.Template.Spec, "wxavatar")
	portNames := map[string]int{}
	for _, p := range app.Ports {
		portNames[p.Name] = p.ContainerPort
	}
	sm := find(t, all, "Service")[0]
	s := decode[service](t, sm)
	if !matches(s.Spec.Selector, labels) {
		t.Error("the Service does not select the Deployment's pods")
	}
	hasHTTP := false
	for _, p := range s.Spec.Ports {
		switch tp := p.TargetPort.(type) {
		case string:
			if _, ok := portNames[tp]; !ok {
				t.Errorf("Service port %s: targetPort %q is no container port", p.Name, tp)
			}
			hasHTTP = hasHTTP || tp == "http"
		case int:
			hasHTTP = hasHTTP || tp == apiPort
		}
	}
	if !hasHTTP {
		t.Error("the Service does not route to the http port")
	}
	if p := decode[pdb](t, find(t, all, "PodDisruptionBudget")[0]); !matches(p.Spec.Selector.MatchLabels, labels) {
		t.Error("the PodDisruptionBudget does not select the Deployment's pods")
	}
}

// ---- settings names -------------------------------------------------------

// knownSettings are the variables .env.example documents.
func knownSettings(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open("../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	known := map[string]bool{}
	sc := bufio.NewScanner(f)
	re := regexp.MustCompile(`^([A-Z][A-Z0-9_]*)=`)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			known[m[1]] = true
		}
	}
	if len(known) < 10 {
		t.Fatalf(".env.example: found only %d settings", len(known))
	}
	return known
}

// TestSettingNamesExist catches a misspelt variable, which wxavatar would
// silently ignore.
func TestSettingNamesExist(t *testing.T) {
	known := knownSettings(t)
	ok := func(name string) bool { return known[name] || strings.HasPrefix(name, "GO") }
	all := loadManifests(t)
	for k := range configMap(t, all).Data {
		if !ok(k) {
			t.Errorf("ConfigMap: %s is not a wxavatar setting (.env.example)", k)
		}
	}
	d := decode[deployment](t, find(t, all, "Deployment")[0])
	j := decode[job](t, find(t, all, "Job")[0])
	for _, c := range []container{containerNamed(t, d.Spec.Template.Spec, "wxavatar"), j.Spec.Template.Spec.Containers[0]} {
		for _, e := range c.Env {
			if !ok(e.Name) {
				t.Errorf("%s: env %s is not a wxavatar setting (.env.example)", c.Name, e.Name)
			}
		}
	}
	// The unit passes this file with --env-file: wxavatar reads it, the Go
	// runtime never sees it, so a GO* line there would be ignored too.
	env := readEnvFile(t, "systemd/wxavatar.env")
	for k := range env {
		if !known[k] {
			t.Errorf("systemd/wxavatar.env: %s is not a wxavatar setting (.env.example)", k)
		}
	}
}

func readEnvFile(t *testing.T, name string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("%s: %q is not NAME=value", name, line)
			continue
		}
		env[k] = v
	}
	return env
}

// ---- systemd --------------------------------------------------------------

// unitSettings parses a unit file: section.Key → values, in order.
func unitSettings(t *testing.T, name string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	section := ""
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: %q", name, line)
			}
			out[section+"."+k] = append(out[section+"."+k], v)
		}
	}
	return out
}

func TestSystemdUnit(t *testing.T) {
	u := unitSettings(t, "systemd/wxavatar.service")
	one := func(key string) string {
		t.Helper()
		v := u["Service."+key]
		if len(v) == 0 {
			t.Errorf("wxavatar.service: %s unset", key)
			return ""
		}
		return v[len(v)-1]
	}
	if got := one("ExecStart"); !strings.Contains(got, " serve ") || !strings.HasSuffix(got, "--env-file "+envFilePath) || strings.Contains(got, "--dev") {
		t.Errorf("ExecStart=%s, want `wxavatar serve --env-file %s`", got, envFilePath)
	}
	if got := one("ExecReload"); !regexp.MustCompile(`kill -(HUP|SIGHUP|s HUP) \$MAINPID$`).MatchString(got) {
		t.Errorf("ExecReload=%s, want kill -HUP $MAINPID", got)
	}
	// Values that systemd puts in the environment beat the settings file and
	// never change on reload: a reload must reread every key.
	if _, ok := u["Service.EnvironmentFile"]; ok {
		t.Error("EnvironmentFile= freezes the settings in the environment, where a reload cannot change them; use --env-file")
	}
	for _, e := range u["Service.Environment"] {
		for _, s := range secretSettings {
			if strings.Contains(e, s+"=") || strings.Contains(e, s+"_FILE=") {
				t.Errorf("Environment=%s: keys set here never change on reload", e)
			}
		}
	}
	for _, k := range []string{"LoadCredential", "LoadCredentialEncrypted", "SetCredential"} {
		if _, ok := u["Service."+k]; ok {
			t.Errorf("%s=: credentials are copied at start and not refreshed by a reload; deploy/README.md uses files under /etc/wxavatar/secrets", k)
		}
	}
	if user := one("User"); user == "" || user == "root" || user == "0" {
		t.Errorf("User=%q: run as a dedicated user", user)
	}
	stop, err := time.ParseDuration(strings.TrimSpace(one("TimeoutStopSec")))
	if err != nil || stop < shutdownGrace(t)+time.Second {
		t.Errorf("TimeoutStopSec=%s: want more than the %s drain", one("TimeoutStopSec"), shutdownGrace(t))
	}
	for key, want := range map[string]string{
		"Type": "exec", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
		"PrivateTmp": "yes", "PrivateDevices": "yes", "CapabilityBoundingSet": "", "StateDirectory": "wxavatar",
		"Restart": "on-failure", "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
	} {
		if got := one(key); got != want {
			t.Errorf("%s=%s, want %s", key, got, want)
		}
	}
	if !slices.Contains(u["Service.SystemCallFilter"], "@system-service") {
		t.Error("SystemCallFilter=@system-service missing")
	}
	for _, key := range []string{"MemoryMax", "LimitNOFILE"} {
		one(key)
	}
	// The paths the unit reads must not be hidden from it.
	for _, k := range []string{"InaccessiblePaths", "TemporaryFileSystem"} {
		for _, v := range u["Service."+k] {
			if strings.Contains(v, "/etc") {
				t.Errorf("%s=%s hides the settings or the secrets", k, v)
			}
		}
	}

	env := readEnvFile(t, "systemd/wxavatar.env")
	for _, s := range fileSecrets {
		if env[s] != "" {
			t.Errorf("systemd/wxavatar.env sets %s inline; the example keeps keys in files", s)
		}
		if f := env[s+"_FILE"]; !strings.HasPrefix(f, "/etc/wxavatar/secrets/") {
			t.Errorf("systemd/wxavatar.env: %s_FILE=%q, want a file under /etc/wxavatar/secrets/", s, f)
		}
	}
	if db := env["DATABASE_URL"]; !strings.HasPrefix(db, "sqlite:/var/lib/wxavatar/") && !strings.HasPrefix(db, "postgres") {
		t.Errorf("systemd/wxavatar.env: DATABASE_URL=%s: SQLite must live in the StateDirectory (/var/lib/wxavatar), the only writable path", db)
	}
}

// ---- README commands ------------------------------------------------------

// readmeText is deploy/README.md.
func readmeText(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// shellCommands joins the lines of text continued with a trailing \ into
// one command each; comment strips a leading # first (commands quoted in a
// YAML comment).
func shellCommands(text string, comment bool) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if comment {
			line = strings.TrimSpace(strings.TrimPrefix(line, "#"))
		}
		if more, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(more + " ")
			continue
		}
		cur.WriteString(line)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

// TestReadmeProvisionsEveryKey: the commands that create the keys create
// every one the examples read, so that a deployment built from them starts:
// each `kubectl create secret generic wxavatar-keys` (README.md and the
// comment of secret.example.yaml) names every key of the example Secret; the
// README's loop that creates the systemd secret files names every file
// wxavatar.env points at; its `docker run` sets every key's _FILE.
func TestReadmeProvisionsEveryKey(t *testing.T) {
	readme := readmeText(t)
	secretKeys := map[string]bool{}
	for _, s := range find(t, loadManifests(t), "Secret") {
		if s.Metadata.Name == "wxavatar-keys" {
			for k := range s.StringData {
				secretKeys[k] = true
			}
			for k := range s.Data {
				secretKeys[k] = true
			}
		}
	}
	example, err := os.ReadFile("kubernetes/secret.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fromFile := regexp.MustCompile(`--from-file=([A-Za-z0-9_.-]+)=`)
	for _, src := range []struct {
		name     string
		commands []string
	}{
		{"deploy/README.md", shellCommands(readme, false)},
		{"kubernetes/secret.example.yaml", shellCommands(string(example), true)},
	} {
		found := 0
		for _, cmd := range src.commands {
			if !strings.HasPrefix(cmd, "kubectl create secret generic wxavatar-keys ") {
				continue
			}
			found++
			named := map[string]bool{}
			for _, m := range fromFile.FindAllStringSubmatch(cmd, -1) {
				named[m[1]] = true
			}
			for k := range secretKeys {
				if !named[k] {
					t.Errorf("%s: `kubectl create secret generic wxavatar-keys` has no --from-file=%s=…, a key of the example Secret", src.name, k)
				}
			}
		}
		if found == 0 {
			t.Errorf("%s: no `kubectl create secret generic wxavatar-keys` command", src.name)
		}
	}

	// systemd: `for f in …; do install … /etc/wxavatar/secrets/$f`.
	loop := regexp.MustCompile(`(?m)^for (\w+) in ([^;\n]+); do\n[^\n]*/etc/wxavatar/secrets/\$(\w+)`).FindStringSubmatch(readme)
	if loop == nil || loop[1] != loop[3] {
		t.Fatal("deploy/README.md: no `for f in …; do install … /etc/wxavatar/secrets/$f` loop creating the systemd secret files")
	}
	created := strings.Fields(loop[2])
	for name, v := range readEnvFile(t, "systemd/wxavatar.env") {
		if !strings.HasSuffix(name, "_FILE") {
			continue
		}
		if f, ok := strings.CutPrefix(v, "/etc/wxavatar/secrets/"); ok && !slices.Contains(created, f) {
			t.Errorf("deploy/README.md: the loop creating the systemd secret files does not create %s (systemd/wxavatar.env, %s)", f, name)
		}
	}

	// Docker.
	runs := 0
	for _, cmd := range shellCommands(readme, false) {
		if !strings.HasPrefix(cmd, "docker run -d ") {
			continue
		}
		runs++
		for _, s := range fileSecrets {
			if !strings.Contains(cmd, " -e "+s+"_FILE=") {
				t.Errorf("deploy/README.md: `docker run -d` does not set %s_FILE", s)
			}
		}
	}
	if runs == 0 {
		t.Error("deploy/README.md: no `docker run -d` command")
	}
}

// TestMessagePushSection: the README's "## WeChat message push" names the
// route handler/routes.go serves the push on, as the console's URL, and
// every event handler/push.go acts on; the ingress advice routes it.
func TestMessagePushSection(t *testing.T) {
	// The route: e.POST("/wechat/…", …).
	var route string
	_, files := parseSources(t, "../handler")
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			lit, ok2 := call.Args[0].(*ast.BasicLit)
			if !ok || !ok2 || sel.Sel.Name != "POST" || lit.Kind != token.STRING {
				return true
			}
			if p, err := strconv.Unquote(lit.Value); err == nil && strings.HasPrefix(p, "/wechat/") {
				route = p
			}
			return true
		})
	}
	if route == "" {
		t.Fatal("handler/: no POST route under /wechat/ (the message push); update TestMessagePushSection")
	}

	// The events: the wechat.Event… constants in handleEvent's cases.
	events := map[string]string{}
	f, err := parser.ParseFile(token.NewFileSet(), "../wechat/events.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if i < len(vs.Values) && strings.HasPrefix(name.Name, "Event") {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							events[name.Name], _ = strconv.Unquote(lit.Value)
						}
					}
				}
			}
		}
	}
	var handled []string
	f, err = parser.ParseFile(token.NewFileSet(), "../handler/push.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "handleEvent" {
			continue
		}
		ast.Inspect(fn, func(n ast.Node) bool {
			if cc, ok := n.(*ast.CaseClause); ok {
				for _, e := range cc.List {
					if sel, ok := e.(*ast.SelectorExpr); ok && strings.HasPrefix(sel.Sel.Name, "Event") {
						v, ok := events[sel.Sel.Name]
						if !ok {
							t.Errorf("handler/push.go: wechat.%s is no string constant of wechat/events.go", sel.Sel.Name)
						}
						if !slices.Contains(handled, v) {
							handled = append(handled, v)
						}
					}
				}
			}
			return true
		})
	}
	if len(handled) == 0 {
		t.Fatal("handler/push.go: handleEvent acts on no wechat.Event…; update TestMessagePushSection")
	}

	readme := readmeText(t)
	_, section, ok := strings.Cut(readme, "\n## WeChat message push\n")
	if !ok {
		t.Fatal("deploy/README.md has no \"## WeChat message push\" section")
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	for _, want := range []string{"`https://<your domain>" + route + "`", "安全模式", "`AVATAR_REVIEW_TIMEOUT`", "`CONTENT_SECURITY_FAIL_OPEN`", "`PUBLIC_BASE_URL`"} {
		if !strings.Contains(section, want) {
			t.Errorf("deploy/README.md, WeChat message push: does not name %s", want)
		}
	}
	for _, ev := range handled {
		if !strings.Contains(section, "`"+ev+"`") {
			t.Errorf("deploy/README.md, WeChat message push: does not name the event `%s`, which handler/push.go acts on", ev)
		}
	}
	_, ingress, _ := strings.Cut(readme, "\n### Behind an ingress")
	if i := strings.Index(ingress, "\n#"); i >= 0 {
		ingress = ingress[:i]
	}
	if !strings.Contains(ingress, "`"+route+"`") {
		t.Errorf("deploy/README.md, Behind an ingress: does not route `%s`, which WeChat's servers call", route)
	}
}

// ---- Docker ---------------------------------------------------------------

type dockerStage struct {
	from  string
	lines []string // instructions, continuation lines joined
}

func dockerStages(t *testing.T) []dockerStage {
	t.Helper()
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var stages []dockerStage
	var cur strings.Builder
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		if fields := strings.Fields(line); strings.EqualFold(fields[0], "FROM") {
			stages = append(stages, dockerStage{from: line})
		}
		if len(stages) > 0 {
			stages[len(stages)-1].lines = append(stages[len(stages)-1].lines, line)
		}
	}
	for _, raw := range strings.Split(string(b), "\n") {
		s := strings.TrimSpace(raw)
		if strings.HasPrefix(s, "#") {
			continue
		}
		if strings.HasSuffix(s, "\\") {
			cur.WriteString(strings.TrimSuffix(s, "\\") + " ")
			continue
		}
		cur.WriteString(s)
		flush()
	}
	flush()
	return stages
}

func instr(st dockerStage, name string) []string {
	var out []string
	for _, l := range st.lines {
		if f := strings.Fields(l); strings.EqualFold(f[0], name) {
			out = append(out, strings.TrimSpace(l[len(f[0]):]))
		}
	}
	return out
}

func TestDockerfile(t *testing.T) {
	stages := dockerStages(t)
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a builder and a runtime stage", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]

	// Builder: modules in their own layer, then a static build.
	var buildCmd string
	download, copyMods, copyAll := -1, -1, -1
	for i, l := range build.lines {
		switch {
		case strings.HasPrefix(l, "COPY go.mod go.sum"):
			copyMods = i
		case strings.HasPrefix(l, "RUN") && strings.Contains(l, "go mod download"):
			download = i
		case strings.HasPrefix(l, "COPY . "):
			copyAll = i
		case strings.HasPrefix(l, "RUN") && strings.Contains(l, "go build"):
			buildCmd = l
		}
	}
	if copyMods < 0 || download < copyMods || copyAll < download {
		t.Error("builder: want COPY go.mod go.sum, RUN go mod download, then COPY . (modules cached as a layer)")
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags="-s -w"`, "./cmd/wxavatar"} {
		if !strings.Contains(buildCmd, want) {
			t.Errorf("builder: the go build line lacks %s", want)
		}
	}

	// Runtime: distroless or scratch, non-root, no shell-based health check.
	base := strings.Fields(final.from)[1]
	if strings.HasPrefix(base, "--platform") {
		base = strings.Fields(final.from)[2]
	}
	if !strings.HasPrefix(base, "gcr.io/distroless/static") && base != "scratch" {
		t.Errorf("runtime stage FROM %s: want distroless/static or scratch", base)
	}
	users := instr(final, "USER")
	if len(users) == 0 {
		t.Fatal("runtime stage has no USER: it would run as root")
	}
	uid, _, _ := strings.Cut(users[len(users)-1], ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %s: want a numeric non-root UID (runAsNonRoot checks it without /etc/passwd)", users[len(users)-1])
	} else if n != nonRootUID {
		t.Errorf("USER %d: the Kubernetes example runs as %d", n, nonRootUID)
	}
	binary := false
	for _, c := range instr(final, "COPY") {
		f := strings.Fields(c)
		binary = binary || (strings.HasPrefix(f[0], "--from=") && f[len(f)-1] == "/wxavatar")
	}
	if !binary {
		t.Error("runtime stage: no COPY --from=<builder> … /wxavatar puts the binary where ENTRYPOINT runs it")
	}
	if got := instr(final, "ENTRYPOINT"); len(got) != 1 || got[0] != `["/wxavatar"]` {
		t.Errorf("ENTRYPOINT %q, want [\"/wxavatar\"] (exec form: the binary is PID 1 and gets the signals)", got)
	}
	if got := instr(final, "CMD"); len(got) != 1 || got[0] != `["serve"]` {
		t.Errorf("CMD %q, want [\"serve\"]", got)
	}
	if got := instr(final, "EXPOSE"); !slices.Contains(got, strconv.Itoa(apiPort)) {
		t.Errorf("EXPOSE %q, want %d", got, apiPort)
	}
	for _, hc := range instr(final, "HEALTHCHECK") {
		if !strings.EqualFold(hc, "NONE") {
			t.Errorf("HEALTHCHECK %s: the image has no shell or curl to run it", hc)
		}
	}
	for _, env := range instr(final, "ENV") {
		// The process environment beats the settings file and never changes
		// on SIGHUP.
		for _, s := range append(secretSettings, "DATABASE_URL") {
			if strings.Contains(env, s) {
				t.Errorf("ENV %s in the image would override every settings file", env)
			}
		}
	}
}

// TestDockerGoVersion keeps the builder image at or above go.mod's go line.
func TestDockerGoVersion(t *testing.T) {
	b, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod: no go line")
	}
	df, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	v := regexp.MustCompile(`(?m)^ARG GO_VERSION=(\d+)\.(\d+)`).FindSubmatch(df)
	if v == nil {
		t.Fatal("Dockerfile: no ARG GO_VERSION=X.Y")
	}
	atoi := func(b []byte) int { n, _ := strconv.Atoi(string(b)); return n }
	if atoi(v[1]) < atoi(m[1]) || (atoi(v[1]) == atoi(m[1]) && atoi(v[2]) < atoi(m[2])) {
		t.Errorf("Dockerfile GO_VERSION %s.%s is older than go.mod's go %s.%s", v[1], v[2], m[1], m[2])
	}
}

// dockerignore is .dockerignore as Docker reads it: patterns relative to the
// context root, `*` and `?` within one path element, `**` across them, `!`
// re-including; a path is excluded when the last pattern that matches it or
// one of its parent folders says so.
type dockerignore []struct {
	re      *regexp.Regexp
	exclude bool
}

func readDockerignore(t *testing.T) dockerignore {
	t.Helper()
	b, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var d dockerignore
	for _, line := range strings.Split(string(b), "\n") {
		p := strings.TrimSpace(line)
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		exclude := true
		if strings.HasPrefix(p, "!") {
			exclude, p = false, strings.TrimSpace(p[1:])
		}
		p = strings.TrimPrefix(path.Clean(p), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(p); i++ {
			switch c := p[i]; {
			case c == '*' && i+1 < len(p) && p[i+1] == '*':
				i++
				if i+1 < len(p) && p[i+1] == '/' {
					i++
					re.WriteString("(.*/)?")
				} else {
					re.WriteString(".*")
				}
			case c == '*':
				re.WriteString("[^/]*")
			case c == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		re.WriteString("$")
		d = append(d, struct {
			re      *regexp.Regexp
			exclude bool
		}{regexp.MustCompile(re.String()), exclude})
	}
	return d
}

func (d dockerignore) excludes(rel string) bool {
	excluded := false
	for _, p := range d {
		for q := rel; ; q = path.Dir(q) {
			if p.re.MatchString(q) {
				excluded = p.exclude
				break
			}
			if !strings.Contains(q, "/") {
				break
			}
		}
	}
	return excluded
}

func TestDockerignore(t *testing.T) {
	d := readDockerignore(t)
	for _, p := range []string{".git/config", ".env", "data/wxavatar.db", "miniprogram/app.js", "bench/results/x.json",
		"miniprogram/node_modules/a/index.js", "wxavatar", "db/db_test.go", "deploy/deploy_test.go"} {
		if !d.excludes(p) {
			t.Errorf(".dockerignore lets %s into the build context", p)
		}
	}

	// Every file the build reads must stay in the context: go.mod, go.sum and
	// the Go and embedded files of the module's packages that the binary
	// imports, as the Dockerfile builds it.
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	cmd := exec.Command(goTool, "list", "-deps", "-f",
		`{{if and .Module (eq .Module.Path "`+modulePath+`")}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{range .EmbedFiles}} {{.}}{{end}}{{"\n"}}{{end}}`,
		"./cmd/wxavatar")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	needed := []string{"go.mod", "go.sum"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		rel, err := filepath.Rel(root, f[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range f[1:] {
			needed = append(needed, filepath.ToSlash(filepath.Join(rel, name)))
		}
	}
	if len(needed) < 10 {
		t.Fatalf("go list found only %d files: %q", len(needed), needed)
	}
	for _, p := range needed {
		if d.excludes(p) {
			t.Errorf(".dockerignore excludes %s, which the build needs", p)
		}
	}
}

// ---- bucket setup ---------------------------------------------------------

// The placeholders of deploy/README.md's policies: every resource starts with
// bucketResource, which is also the bucket itself for bucket-level actions.
const bucketResource = "qcs::cos:<region>:uid/<appid>:<bucket>/"

// upgradeHeading opens the subsection of "## Bucket setup" on upgrading from
// the releases whose upload keys shared avatars/ with the avatars.
const upgradeHeading = "### Upgrading from the previous release"

// The headings of the bucket setup: the part all providers share (the key
// layout), then one section per provider.
const (
	setupHeading    = "## Bucket setup"
	cosSetupHeading = "## Bucket setup: Tencent COS (`STORAGE=cos`)"
)

// readmeSection is the section of deploy/README.md under heading (a whole
// "## …" line), up to the next "## " heading.
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	_, section, ok := strings.Cut(readmeText(t), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("deploy/README.md has no %q section", heading)
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	return section
}

// bucketSetupSection is what deploy/README.md says of a COS bucket: the shared
// "## Bucket setup" section and COS's own.
func bucketSetupSection(t *testing.T) string {
	t.Helper()
	return readmeSection(t, setupHeading) + "\n" + readmeSection(t, cosSetupHeading)
}

// setupBlock is a fenced code block of a bucket setup section, the "### "
// subsection it is in ("" before the first), and whether that is the upgrade
// subsection.
type setupBlock struct {
	text    string
	upgrade bool
	sub     string
}

// bucketSetupBlocks returns the fenced code blocks of lang in the COS bucket
// setup, indented ones (in list items) included.
func bucketSetupBlocks(t *testing.T, lang string) []setupBlock {
	t.Helper()
	return sectionBlocks(t, bucketSetupSection(t), lang)
}

// sectionBlocks returns the fenced code blocks of lang in section, indented
// ones (in list items) included.
func sectionBlocks(t *testing.T, section, lang string) []setupBlock {
	t.Helper()
	var blocks []setupBlock
	var cur []string
	indent, in, sub := "", false, ""
	for _, line := range strings.Split(section, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case !in && strings.HasPrefix(line, "### "):
			sub = line
		case !in && trimmed == "```"+lang:
			in, cur, indent = true, nil, line[:len(line)-len(strings.TrimLeft(line, " "))]
		case in && trimmed == "```":
			in = false
			blocks = append(blocks, setupBlock{strings.Join(cur, "\n"), sub == upgradeHeading, sub})
		case in:
			cur = append(cur, strings.TrimPrefix(line, indent))
		}
	}
	if in {
		t.Fatalf("deploy/README.md: an unclosed ```%s block under Bucket setup", lang)
	}
	return blocks
}

// keyTemplate is how avatar/uploads.go builds a key: string literals (the
// handler's string constants, such as uploadsPrefix, resolved to theirs), and
// the expressions between them (userID, up.ID, ext), by their source text.
type keyTemplate []struct{ lit, expr string }

// parseSources parses the Go files of dir, tests left out.
func parseSources(t *testing.T, dir string) (*token.FileSet, []*ast.File) {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no %s/*.go: %v", dir, err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return fset, files
}

// avatarConsts reads the string constants declared at package level in
// avatar/'s non-test files: name = "literal", or literals and constants
// joined by +.
func avatarConsts(t *testing.T) map[string]string {
	t.Helper()
	var specs []*ast.ValueSpec
	_, files := parseSources(t, "../avatar")
	for _, f := range files {
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
				for _, s := range g.Specs {
					specs = append(specs, s.(*ast.ValueSpec))
				}
			}
		}
	}
	consts := map[string]string{}
	var eval func(e ast.Expr) (string, bool)
	eval = func(e ast.Expr) (string, bool) {
		switch e := e.(type) {
		case *ast.BasicLit:
			if e.Kind != token.STRING {
				return "", false
			}
			s, err := strconv.Unquote(e.Value)
			return s, err == nil
		case *ast.Ident:
			s, ok := consts[e.Name]
			return s, ok
		case *ast.ParenExpr:
			return eval(e.X)
		case *ast.BinaryExpr:
			x, okX := eval(e.X)
			y, okY := eval(e.Y)
			return x + y, e.Op == token.ADD && okX && okY
		}
		return "", false
	}
	// A constant may be built from one declared after it: resolve until
	// nothing more does.
	for more := true; more; {
		more = false
		for _, vs := range specs {
			if id, ok := vs.Type.(*ast.Ident); vs.Type != nil && (!ok || id.Name != "string") {
				continue // a constant of another type, even one based on string
			}
			for i, name := range vs.Names {
				if _, done := consts[name.Name]; done || i >= len(vs.Values) {
					continue
				}
				if s, ok := eval(vs.Values[i]); ok {
					consts[name.Name], more = s, true
				}
			}
		}
	}
	return consts
}

// keyLayout reads the three keys an upload names from avatar/uploads.go, the
// upload key (up.Key, which the signatures name), the avatar key
// (up.AvatarKey) and the thumbnail key (up.ThumbKey), which only the
// service's confirm writes, and the extensions (imageExt's values).
func keyLayout(t *testing.T) (upload, avatar, thumb keyTemplate, exts []string) {
	t.Helper()
	const file = "../avatar/uploads.go"
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	consts := avatarConsts(t)
	var flatten func(e ast.Expr, out *keyTemplate) bool
	flatten = func(e ast.Expr, out *keyTemplate) bool {
		switch e := e.(type) {
		case *ast.BinaryExpr:
			return e.Op == token.ADD && flatten(e.X, out) && flatten(e.Y, out)
		case *ast.BasicLit:
			s, err := strconv.Unquote(e.Value)
			*out = append(*out, struct{ lit, expr string }{lit: s})
			return e.Kind == token.STRING && err == nil
		case *ast.Ident:
			if s, ok := consts[e.Name]; ok {
				*out = append(*out, struct{ lit, expr string }{lit: s})
			} else {
				*out = append(*out, struct{ lit, expr string }{expr: e.Name})
			}
			return true
		case *ast.SelectorExpr:
			if x, ok := e.X.(*ast.Ident); ok {
				*out = append(*out, struct{ lit, expr string }{expr: x.Name + "." + e.Sel.Name})
				return true
			}
		}
		return false
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt:
			if len(n.Lhs) != 1 || len(n.Rhs) != 1 {
				return true
			}
			sel, ok := n.Lhs[0].(*ast.SelectorExpr)
			if !ok {
				return true
			}
			var dst *keyTemplate
			switch sel.Sel.Name {
			case "Key":
				dst = &upload
			case "AvatarKey":
				dst = &avatar
			case "ThumbKey":
				dst = &thumb
			default:
				return true
			}
			if *dst != nil {
				t.Fatalf("%s: .%s is assigned twice; this test reads one key layout", file, sel.Sel.Name)
			}
			if !flatten(n.Rhs[0], dst) {
				t.Fatalf("%s: .%s is not built from string literals, constants and variables joined by +; update keyLayout", file, sel.Sel.Name)
			}
		case *ast.ValueSpec:
			for i, name := range n.Names {
				if name.Name != "imageExt" || i >= len(n.Values) {
					continue
				}
				lit, ok := n.Values[i].(*ast.CompositeLit)
				if !ok {
					t.Fatalf("%s: imageExt is not a map literal", file)
				}
				for _, el := range lit.Elts {
					var v *ast.BasicLit
					if kv, ok := el.(*ast.KeyValueExpr); ok {
						v, _ = kv.Value.(*ast.BasicLit)
					}
					s, err := "", error(nil)
					if v != nil {
						s, err = strconv.Unquote(v.Value)
					}
					if v == nil || err != nil || !strings.HasPrefix(s, ".") {
						t.Fatalf("%s: imageExt: want \"type\": \".ext\" entries", file)
					}
					exts = append(exts, s)
				}
			}
		}
		return true
	})
	if upload == nil || avatar == nil || thumb == nil || len(exts) == 0 {
		t.Fatalf("%s: found no up.Key = …, up.AvatarKey = …, up.ThumbKey = … or imageExt; update keyLayout", file)
	}
	return upload, avatar, thumb, exts
}

// legacyUpload is the upload key of the releases before uploads/ had a prefix
// of its own (commit 15951b0): history, so written here rather than read from
// the code. Uploads they signed are stored there until the sweeper deletes
// them, and so are the avatars confirmed before migration 00003, for good.
var legacyUpload = keyTemplate{{lit: "avatars/"}, {expr: "userID"}, {lit: "/"}, {expr: "up.ID"}, {expr: "ext"}}

// priorAvatar is the avatar key of the releases whose confirm copied the
// upload server side (before issue 15 had it decode and re-encode the image):
// history, so written here. Their avatars stay there until replaced, when
// the sweeper deletes them; an upload such a release signed names this key
// for its avatar (and no thumbnail), so this release's confirm writes there
// during a rollout; and that release's own confirms copy there.
var priorAvatar = keyTemplate{{lit: "avatars/"}, {expr: "userID"}, {lit: "/"}, {expr: "up.ID"}, {lit: "/avatar"}, {expr: "ext"}}

// keySamples fills a template in: ids of the kind newID makes (26 characters
// of a-z2-7), one of them spelling "avatar", and every extension (if the
// template has one).
func keySamples(t *testing.T, k keyTemplate, exts []string) []string {
	t.Helper()
	ids := [][2]string{
		{"abcdefghijklmnopqrstuvwxyz", "mzxw6ytboi2345672345672345"},
		{"avatarsavatarsavatarsavata", "avatar2345672345672345672a"},
	}
	var out []string
	for _, id := range ids {
		for _, ext := range exts {
			key, ok := k.fill(id[0], id[1], ext)
			if !ok {
				t.Fatalf("avatar/uploads.go builds a key from %s, which keySamples cannot fill in", key)
			}
			if !slices.Contains(out, key) { // a key without ext is the same for every one
				out = append(out, key)
			}
		}
	}
	return out
}

// fill writes the template with user, upload and ext for its expressions.
// An expression it does not know makes it return that expression and false.
func (k keyTemplate) fill(user, upload, ext string) (string, bool) {
	var b strings.Builder
	for _, p := range k {
		switch p.expr {
		case "":
			b.WriteString(p.lit)
		case "userID":
			b.WriteString(user)
		case "up.ID":
			b.WriteString(upload)
		case "ext":
			b.WriteString(ext)
		default:
			return p.expr, false
		}
	}
	return b.String(), true
}

// docPattern is a template as deploy/README.md writes it:
// avatars/<user>/<upload>/avatar.<ext>.
func (k keyTemplate) docPattern() string {
	pattern, ok := k.fill("<user>", "<upload>", ".<ext>")
	if !ok {
		return "<" + pattern + ">"
	}
	return pattern
}

// literalPrefix is what every key of the template starts with.
func (k keyTemplate) literalPrefix() string {
	var b strings.Builder
	for _, p := range k {
		if p.expr != "" {
			break
		}
		b.WriteString(p.lit)
	}
	return b.String()
}

// stringList is a policy field that may be one string or a list of them.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = stringList{one}
		return nil
	}
	var many []string
	err := json.Unmarshal(b, &many)
	*l = many
	return err
}

type accessPolicy struct {
	Version   string `json:"version"`
	Statement []struct {
		Effect    string `json:"effect"`
		Principal *struct {
			QCS stringList `json:"qcs"`
		} `json:"principal"`
		Action    stringList     `json:"action"`
		Resource  stringList     `json:"resource"`
		Condition map[string]any `json:"condition"`
	} `json:"statement"`
}

// bucketPolicies parses the README's JSON blocks: the service's CAM policy
// (no principal), the bucket policy that publishes the avatars, and, in the
// upgrade subsection, the statement the service also needs during a rollout
// from a release with the shared prefix.
func bucketPolicies(t *testing.T) (service, public, rollout accessPolicy) {
	t.Helper()
	var nService, nPublic, nRollout int
	for i, block := range bucketSetupBlocks(t, "json") {
		dec := json.NewDecoder(strings.NewReader(block.text))
		dec.DisallowUnknownFields()
		var p accessPolicy
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("deploy/README.md, Bucket setup, JSON block %d: not a policy the console would take: %v", i+1, err)
		}
		if dec.More() {
			t.Fatalf("deploy/README.md, Bucket setup, JSON block %d: more than one JSON value", i+1)
		}
		if p.Version != "2.0" || len(p.Statement) == 0 {
			t.Errorf("JSON block %d: want version 2.0 and statements", i+1)
		}
		principals := 0
		for _, s := range p.Statement {
			if s.Effect != "allow" {
				t.Errorf("JSON block %d: effect %q; these policies only allow", i+1, s.Effect)
			}
			if len(s.Action) == 0 || len(s.Resource) == 0 {
				t.Errorf("JSON block %d: a statement without action or resource", i+1)
			}
			if s.Principal != nil {
				principals++
			}
			for _, r := range s.Resource {
				if !strings.HasPrefix(r, bucketResource) {
					t.Errorf("JSON block %d: resource %q does not start with %s (the placeholders are <region>, <appid>, <bucket>)", i+1, r, bucketResource)
				}
				// COS documents a whole key, a prefix ending in *, and
				// <bucket>/ for the bucket; how it reads a * anywhere else
				// it does not say.
				if strings.Contains(strings.TrimSuffix(r, "*"), "*") {
					t.Errorf("JSON block %d: resource %q has a * COS does not document (only a trailing one, a prefix)", i+1, r)
				}
			}
			for _, a := range s.Action {
				if !strings.HasPrefix(a, "name/cos:") || strings.Contains(a, "*") {
					t.Errorf("JSON block %d: action %q: want one name/cos:<Action>, no wildcard", i+1, a)
				}
			}
		}
		switch {
		case principals != 0 && principals != len(p.Statement):
			t.Errorf("JSON block %d: some statements name a principal and some do not: a CAM policy names none, a bucket policy names one in each", i+1)
		case block.upgrade && principals == 0:
			rollout = p
			nRollout++
		case block.upgrade:
			t.Errorf("JSON block %d: a bucket policy in %q: the upgrade changes the service's policy only", i+1, upgradeHeading)
		case principals > 0:
			public = p
			nPublic++
		default:
			service = p
			nService++
		}
	}
	if nService != 1 || nPublic != 1 || nRollout != 1 {
		t.Fatalf("deploy/README.md, Bucket setup: want one CAM policy (no principal) and one bucket policy (principal) in ```json blocks, and one CAM statement in %q; have %d, %d and %d", upgradeHeading, nService, nPublic, nRollout)
	}
	return service, public, rollout
}

// keyKind says which keys a request touches.
type keyKind int

const (
	uploadKeys      keyKind = iota // uploads/<user>/<upload>.<ext>
	avatarKeys                     // avatars/<user>/<upload>/avatar
	thumbKeys                      // avatars/<user>/<upload>/thumb
	priorAvatarKeys                // avatars/<user>/<upload>/avatar.<ext>, see priorAvatar
	legacyKeys                     // avatars/<user>/<upload>.<ext>, see legacyUpload
	theBucket                      // the bucket itself
)

type grant struct {
	action string
	keys   keyKind
}

// sdkCalls maps every call storage/ makes on cos-go-sdk-v5's client
// (c.cos.<Service>.<Method>) to the CAM actions COS checks and the keys the
// handlers pass it. A call not listed here fails TestBucketSetupPolicies: add
// it here and to the policy in deploy/README.md.
var sdkCalls = map[string][]grant{
	"Object.Get": {{"name/cos:GetObject", uploadKeys}}, // Peek: confirm's read of the upload
	// Put: confirm's avatar and thumbnail, and the avatar of an upload an
	// earlier release signed, which names that release's avatar key.
	"Object.Put": {{"name/cos:PutObject", avatarKeys}, {"name/cos:PutObject", thumbKeys}, {"name/cos:PutObject", priorAvatarKeys}},
	// Rejects, confirmed uploads and the sweeper (upload keys); replaced
	// avatars and thumbnails, and those a confirm that lost a race wrote;
	// and what older releases left under their keys: avatars copied by
	// earlier releases once replaced, upload keys the sweeper deletes,
	// avatars from before migration 00003 once replaced.
	"Object.Delete": {
		{"name/cos:DeleteObject", uploadKeys}, {"name/cos:DeleteObject", avatarKeys}, {"name/cos:DeleteObject", thumbKeys},
		{"name/cos:DeleteObject", priorAvatarKeys}, {"name/cos:DeleteObject", legacyKeys},
	},
	"Bucket.Head": {{"name/cos:HeadBucket", theBucket}}, // Ping: /readyz
}

// signedRequests maps the fields of storage.SignedUpload to the request a
// client makes with them, which COS checks against the signer's policy.
var signedRequests = map[string][]grant{
	"PostURL":    {{"name/cos:PostObject", uploadKeys}},
	"PostForm":   nil,
	"PutURL":     {{"name/cos:PutObject", uploadKeys}},
	"PutHeaders": nil,
}

// aclGrant is what an upload that sets the object's ACL also needs. COS's
// PUT Object and POST Object pages do not say; Tencent's COSCLI documentation
// (tencentyun/coscli, docs/official-doc.md, the permissions of cp and sync)
// says an upload with an ACL needs cos:PutObjectACL, the ACL travelling with
// the upload as a PUT Object acl would. neededGrants asks for it when the
// signed form or PUT carries an ACL field or header (setsACL).
var aclGrant = grant{"name/cos:PutObjectACL", uploadKeys}

// setsACL reports whether a POST form field or a PUT header sets the ACL of
// the object it uploads.
func setsACL(name string) bool {
	n := strings.ToLower(name)
	return n == "acl" || n == "x-cos-acl" || strings.HasPrefix(n, "x-cos-grant-")
}

// rolloutGrants is what the releases with the shared prefix need while they
// run beside this one, beyond what the CAM policy grants for good
// (DeleteObject on avatars/*, GetObject on uploads/* for their copies of
// this release's uploads): on their upload keys (legacyKeys), the POST and
// PUT their signatures make, confirm's read and the copy's source; on the
// avatar keys, the server-side copy their confirm makes ("PUT Object - Copy"
// names cos:PutObjectCopy), to their own avatar key or to this release's.
var rolloutGrants = []grant{
	{"name/cos:PostObject", legacyKeys},
	{"name/cos:PutObject", legacyKeys},
	{"name/cos:GetObject", legacyKeys},
	{"name/cos:PutObjectCopy", priorAvatarKeys},
	{"name/cos:PutObjectCopy", avatarKeys},
}

// storageSDKCalls lists the SDK calls in storage/'s non-test files.
func storageSDKCalls(t *testing.T) map[string][]string {
	t.Helper()
	calls := map[string][]string{}
	fset, files := parseSources(t, "../storage/cos")
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			method, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			svc, ok := method.X.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			// c.sdk.Object.Get(…), or any client's .Object./.Bucket./… call.
			viaCos := false
			if client, ok := svc.X.(*ast.SelectorExpr); ok && client.Sel.Name == "sdk" {
				viaCos = true
			}
			switch svc.Sel.Name {
			case "Object", "Bucket", "Service", "Batch", "CI":
			default:
				if !viaCos {
					return true
				}
			}
			key := svc.Sel.Name + "." + method.Sel.Name
			calls[key] = append(calls[key], fset.Position(call.Pos()).String())
			return true
		})
	}
	if len(calls) == 0 {
		t.Fatal("found no SDK call in storage/cos: update storageSDKCalls")
	}
	return calls
}

// neededGrants is every (action, keys) the code needs: the SDK calls in
// storage/ and the requests clients make with what SignUpload signs.
func neededGrants(t *testing.T) []grant {
	t.Helper()
	var need []grant
	for call, where := range storageSDKCalls(t) {
		g, ok := sdkCalls[call]
		if !ok {
			t.Errorf("%s calls %s: which CAM action does it need? Add it to sdkCalls in deploy_test.go and to the policy in deploy/README.md", where[0], call)
		}
		need = append(need, g...)
	}
	signed := reflect.ValueOf(productionSigned(t, "cos"))
	for i := 0; i < signed.NumField(); i++ {
		name := signed.Type().Field(i).Name
		g, ok := signedRequests[name]
		if !ok {
			t.Errorf("storage.SignedUpload.%s: which request does it sign? Add it to signedRequests in deploy_test.go and its action to the policy in deploy/README.md", name)
		}
		if !signed.Field(i).IsZero() {
			need = append(need, g...)
		}
	}
	upload := signed.Interface().(storage.SignedUpload)
	for _, fields := range []map[string]string{upload.PostForm, upload.PutHeaders} {
		for name := range fields {
			if setsACL(name) {
				need = append(need, aclGrant)
			}
		}
	}
	return need
}

// bucketKeys is every kind of key the bucket holds: the templates and samples
// of the three avatar/uploads.go builds, and of the older avatar and upload
// keys.
type bucketKeys struct {
	templates map[keyKind]keyTemplate
	samples   map[keyKind][]string
}

func readBucketKeys(t *testing.T) bucketKeys {
	t.Helper()
	upload, avatar, thumb, exts := keyLayout(t)
	keys := bucketKeys{
		templates: map[keyKind]keyTemplate{
			uploadKeys: upload, avatarKeys: avatar, thumbKeys: thumb,
			priorAvatarKeys: priorAvatar, legacyKeys: legacyUpload,
		},
		samples: map[keyKind][]string{},
	}
	owner := map[string]keyKind{}
	for k, tmpl := range keys.templates {
		if tmpl.literalPrefix() == "" {
			t.Fatalf("avatar/uploads.go: the key %s has no fixed prefix; the policies need one", tmpl.docPattern())
		}
		keys.samples[k] = keySamples(t, tmpl, exts)
		// No two kinds of key may be the same key: an avatar written over
		// its thumbnail, or over an upload or avatar of an older layout.
		for _, key := range keys.samples[k] {
			if other, ok := owner[key]; ok && other != k {
				t.Errorf("avatar/uploads.go: %s is both %s and %s", key, tmpl.docPattern(), keys.templates[other].docPattern())
			}
			owner[key] = k
		}
	}
	return keys
}

func (keys bucketKeys) describe(k keyKind) string {
	if k == theBucket {
		return "the bucket (" + bucketResource + ")"
	}
	return keys.templates[k].docPattern()
}

// covers reads a resource as COS documents it: the bucket itself, a whole
// key, or a prefix ending in *.
func covers(resource string, k keyKind, key string) bool {
	if k == theBucket {
		return resource == bucketResource
	}
	name := bucketResource + key
	if p, ok := strings.CutSuffix(resource, "*"); ok {
		return strings.HasPrefix(name, p)
	}
	return resource == name
}

func (keys bucketKeys) coversAll(resource string, k keyKind) bool {
	if k == theBucket {
		return covers(resource, k, "")
	}
	for _, key := range keys.samples[k] {
		if !covers(resource, k, key) {
			return false
		}
	}
	return true
}

// checkGrants checks that the CAM policy p grants every grant of need, on
// resources that cover all its keys, and nothing else: no action nothing
// needs, no resource that no need of that action touches, none reaching past
// the fixed prefix of the keys it serves.
func checkGrants(t *testing.T, name string, p accessPolicy, need []grant, keys bucketKeys) {
	t.Helper()
	needed := map[string]bool{}
	for _, g := range need {
		needed[g.action] = true
		ok := false
		for _, s := range p.Statement {
			for _, r := range s.Resource {
				ok = ok || slices.Contains(s.Action, g.action) && keys.coversAll(r, g.keys)
			}
		}
		if !ok {
			t.Errorf("%s does not grant %s on %s, which the code needs", name, g.action, keys.describe(g.keys))
		}
	}
	for _, s := range p.Statement {
		if s.Condition != nil {
			t.Errorf("%s has a condition (%v): check by hand that it still allows what the code does, then teach this test", name, s.Condition)
		}
		for _, a := range s.Action {
			if !needed[a] {
				t.Errorf("%s grants %s, which nothing in storage/ needs", name, a)
			}
			for _, r := range s.Resource {
				used := false
				for _, g := range need {
					if g.action != a {
						continue
					}
					if g.keys == theBucket {
						used = used || covers(r, theBucket, "")
						continue
					}
					for _, key := range keys.samples[g.keys] {
						if !covers(r, g.keys, key) {
							continue
						}
						used = true
						// No wider than the fixed prefix of the keys it serves.
						if p := keys.templates[g.keys].literalPrefix(); !strings.HasPrefix(strings.TrimSuffix(r, "*"), bucketResource+p) {
							t.Errorf("%s: %s on %s reaches past %s*, the keys it is needed for (%s)", name, a, r, p, keys.describe(g.keys))
						}
						break
					}
				}
				if !used {
					t.Errorf("%s grants %s on %s, which no request of the code touches", name, a, r)
				}
			}
		}
	}
}

// TestBucketSetupPolicies keeps the policies in deploy/README.md in step with
// the code: the service's CAM policy grants exactly the actions storage/
// needs, each on exactly the prefix of the keys avatar/ builds for it; the
// rollout statement of the upgrade grants the older release what it needs on
// its upload keys, and nothing else; the bucket policy publishes the avatars
// and no upload key.
func TestBucketSetupPolicies(t *testing.T) {
	keys := readBucketKeys(t)
	service, public, rollout := bucketPolicies(t)
	checkGrants(t, "the CAM policy", service, neededGrants(t), keys)
	checkGrants(t, "the rollout statement in "+upgradeHeading, rollout, rolloutGrants, keys)

	// The bucket policy: anyone may GetObject every avatar, and no upload key.
	for _, s := range public.Statement {
		if s.Principal == nil || !slices.Equal(s.Principal.QCS, []string{"qcs::cam::anyone:anyone"}) {
			t.Error("the bucket policy: every statement's principal must be anyone (qcs::cam::anyone:anyone)")
		}
		if !slices.Equal(s.Action, []string{"name/cos:GetObject"}) {
			t.Errorf("the bucket policy grants %q, want name/cos:GetObject only", s.Action)
		}
		if s.Condition != nil {
			t.Errorf("the bucket policy has a condition (%v): check by hand what it publishes, then teach this test", s.Condition)
		}
		uploads := bucketResource + keys.templates[uploadKeys].literalPrefix()
		for _, r := range s.Resource {
			for _, key := range keys.samples[uploadKeys] {
				if covers(r, uploadKeys, key) {
					t.Errorf("the bucket policy's %s publishes the upload key %s, whose bytes nobody checked", r, key)
				}
			}
			// Whatever the ids: a wildcard under the upload keys' fixed
			// start publishes some of them.
			if p, ok := strings.CutSuffix(r, "*"); ok && strings.HasPrefix(p, uploads) {
				t.Errorf("the bucket policy's %s publishes upload keys", r)
			}
		}
	}
	for _, k := range []keyKind{avatarKeys, thumbKeys, priorAvatarKeys} {
		for _, key := range keys.samples[k] {
			published := false
			for _, s := range public.Statement {
				for _, r := range s.Resource {
					published = published || covers(r, k, key)
				}
			}
			if !published {
				t.Errorf("the bucket policy does not publish %s, of %s", key, keys.describe(k))
			}
		}
	}

	// The section names the layout the code builds and the earlier
	// releases' avatar key, and the upgrade the older upload key and what
	// ends the rollout.
	section := bucketSetupSection(t)
	for _, k := range []keyKind{uploadKeys, avatarKeys, thumbKeys, priorAvatarKeys} {
		if !strings.Contains(section, "`"+keys.describe(k)+"`") {
			t.Errorf("deploy/README.md does not name the key layout `%s`", keys.describe(k))
		}
	}
	_, upgrade, _ := strings.Cut(section, "\n"+upgradeHeading+"\n")
	for _, s := range []string{"`" + keys.describe(legacyKeys) + "`", "`UPLOAD_TTL`", "`SWEEP_INTERVAL`"} {
		if !strings.Contains(upgrade, s) {
			t.Errorf("deploy/README.md, %q does not name %s (the older upload keys, and what ends the rollout)", upgradeHeading, s)
		}
	}
}

type corsConfiguration struct {
	XMLName xml.Name `xml:"CORSConfiguration"`
	Rules   []struct {
		AllowedOrigin []string `xml:"AllowedOrigin"`
		AllowedMethod []string `xml:"AllowedMethod"`
		AllowedHeader []string `xml:"AllowedHeader"`
		ExposeHeader  []string `xml:"ExposeHeader"`
		MaxAgeSeconds int      `xml:"MaxAgeSeconds"`
	} `xml:"CORSRule"`
}

// xmlElements catches the elements a struct does not name, so that the test
// refuses what it does not understand rather than ignoring it.
type xmlElements []struct{ XMLName xml.Name }

func (e xmlElements) names() []string {
	var out []string
	for _, el := range e {
		out = append(out, "<"+el.XMLName.Local+">")
	}
	return out
}

type lifecycleFilter struct {
	Prefix *string  `xml:"Prefix"`
	Tag    []string `xml:"Tag>Key"`
	And    *struct {
		Prefix *string     `xml:"Prefix"`
		Tag    []string    `xml:"Tag>Key"`
		Other  xmlElements `xml:",any"` // PrefixNotEquals, ObjectSizeGreaterThan, …
	} `xml:"And"`
	Other xmlElements `xml:",any"`
}

type lifecycleRule struct {
	ID         string           `xml:"ID"`
	Prefix     *string          `xml:"Prefix"` // the older form, without Filter
	Filter     *lifecycleFilter `xml:"Filter"`
	Status     string           `xml:"Status"`
	Expiration *struct {
		Days  int         `xml:"Days"`
		Date  string      `xml:"Date"`
		Other xmlElements `xml:",any"`
	} `xml:"Expiration"`
	AbortIncompleteMultipartUpload *struct {
		DaysAfterInitiation int `xml:"DaysAfterInitiation"`
	} `xml:"AbortIncompleteMultipartUpload"`
	Other xmlElements `xml:",any"` // Transition, NoncurrentVersion…, …
}

type lifecycleConfiguration struct {
	XMLName xml.Name        `xml:"LifecycleConfiguration"`
	Rules   []lifecycleRule `xml:"Rule"`
}

// prefix is the key prefix the rule applies to; "" (no prefix) is the whole
// bucket.
func (r lifecycleRule) prefix() string {
	switch f := r.Filter; {
	case f == nil && r.Prefix != nil:
		return *r.Prefix
	case f == nil:
		return ""
	case f.And != nil && f.And.Prefix != nil:
		return *f.And.Prefix
	case f.Prefix != nil:
		return *f.Prefix
	}
	return ""
}

// narrowed reports whether the rule's filter has more than a prefix (tags,
// sizes, excluded prefixes, or what this test does not know): such a rule
// may miss some of the keys under its prefix.
func (r lifecycleRule) narrowed() bool {
	f := r.Filter
	return f != nil && (len(f.Tag) > 0 || len(f.Other) > 0 ||
		f.And != nil && (len(f.And.Tag) > 0 || len(f.And.Other) > 0))
}

// bucketSetupXML parses the README's XML blocks by their root element.
func bucketSetupXML(t *testing.T) (corsConfiguration, lifecycleConfiguration) {
	t.Helper()
	var cors []corsConfiguration
	var lifecycle []lifecycleConfiguration
	for i, b := range bucketSetupBlocks(t, "xml") {
		block := b.text
		var root struct{ XMLName xml.Name }
		if err := xml.Unmarshal([]byte(block), &root); err != nil {
			t.Fatalf("deploy/README.md, Bucket setup, XML block %d: %v", i+1, err)
		}
		switch root.XMLName.Local {
		case "CORSConfiguration":
			var c corsConfiguration
			if err := xml.Unmarshal([]byte(block), &c); err != nil {
				t.Fatalf("XML block %d: %v", i+1, err)
			}
			cors = append(cors, c)
		case "LifecycleConfiguration":
			var l lifecycleConfiguration
			if err := xml.Unmarshal([]byte(block), &l); err != nil {
				t.Fatalf("XML block %d: %v", i+1, err)
			}
			lifecycle = append(lifecycle, l)
		default:
			t.Errorf("XML block %d: <%s> is neither a CORS nor a lifecycle configuration", i+1, root.XMLName.Local)
		}
	}
	if len(cors) != 1 || len(lifecycle) != 1 {
		t.Fatalf("deploy/README.md, Bucket setup: want one CORSConfiguration and one LifecycleConfiguration in ```xml blocks, have %d and %d", len(cors), len(lifecycle))
	}
	return cors[0], lifecycle[0]
}

// TestBucketSetupCORS: a browser may send, to the bucket, every request
// SignUpload signs, with every header it makes the client send, and read the
// ETag; and GET and HEAD the avatars.
func TestBucketSetupCORS(t *testing.T) {
	cors, _ := bucketSetupXML(t)
	rules := make([]corsRule, len(cors.Rules))
	for i, r := range cors.Rules {
		rules[i] = corsRule{origins: r.AllowedOrigin, methods: r.AllowedMethod, headers: r.AllowedHeader, expose: r.ExposeHeader}
	}
	checkCORS(t, "CORS", rules, productionSigned(t, "cos"))
}

// TestBucketSetupLifecycle: the README expires the upload keys after a day,
// as a backstop to the sweeper, and aborts unfinished multipart uploads; and
// no rule can reach an avatar, nor an older key under avatars/, with any
// action: an expiration deletes them, a transition to an archive class makes
// them unservable.
func TestBucketSetupLifecycle(t *testing.T) {
	_, lifecycle := bucketSetupXML(t)
	keys := readBucketKeys(t)
	backstop, abort := false, false
	for _, r := range lifecycle.Rules {
		if r.Status != "Enabled" {
			t.Errorf("lifecycle rule %s: Status %q, want Enabled", r.ID, r.Status)
		}
		prefix := r.prefix()
		for _, k := range []keyKind{avatarKeys, legacyKeys} {
			for _, key := range keys.samples[k] {
				if strings.HasPrefix(key, prefix) {
					t.Errorf("lifecycle rule %s applies to every key under %q, %s included: no rule may reach avatars/", r.ID, prefix, key)
					break
				}
			}
			// Whatever the ids: a prefix that shares the keys' fixed start
			// reaches some of them.
			if lit := keys.templates[k].literalPrefix(); strings.HasPrefix(prefix, lit) {
				t.Errorf("lifecycle rule %s: prefix %q reaches keys %s", r.ID, prefix, keys.templates[k].docPattern())
			}
		}
		if len(r.Other) > 0 {
			t.Errorf("lifecycle rule %s: %s: only Expiration and AbortIncompleteMultipartUpload belong here (a transition takes an upload out of STANDARD, which confirm refuses)", r.ID, strings.Join(r.Other.names(), ", "))
		}
		if e := r.Expiration; e != nil && (e.Days < 1 || e.Date != "" || len(e.Other) > 0) {
			t.Errorf("lifecycle rule %s: want <Expiration><Days>n</Days></Expiration> with n ≥ 1, and nothing else", r.ID)
		}
		if a := r.AbortIncompleteMultipartUpload; a != nil && a.DaysAfterInitiation < 1 {
			t.Errorf("lifecycle rule %s: DaysAfterInitiation %d, want ≥ 1", r.ID, a.DaysAfterInitiation)
		}
		if r.Status != "Enabled" {
			continue
		}
		all := true
		for _, key := range keys.samples[uploadKeys] {
			all = all && strings.HasPrefix(key, prefix)
		}
		backstop = backstop || all && !r.narrowed() && r.Expiration != nil && r.Expiration.Days == 1
		abort = abort || r.AbortIncompleteMultipartUpload != nil
	}
	if !backstop {
		t.Errorf("deploy/README.md: want an enabled lifecycle rule that expires every upload key after 1 day (<Filter><Prefix>%s</Prefix></Filter>, <Expiration><Days>1</Days></Expiration>, no tag or size filter: wxavatar tags nothing), as a backstop to the sweeper", keys.templates[uploadKeys].literalPrefix())
	}
	if !abort {
		t.Error("deploy/README.md: want an enabled lifecycle rule that aborts incomplete multipart uploads (<AbortIncompleteMultipartUpload>)")
	}
}
