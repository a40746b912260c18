//! A real Kubernetes control plane for the admission tests: etcd and kube-apiserver (both built
//! by `.ci/install-kube-control-plane`) on loopback ports, a kubeconfig for `kubectl` of the same
//! release, the webhook of `deploy/admission/` registered with `clientConfig.url` pointing at a
//! `binauthz-attest admission` on loopback, and the API server's audit log.
//!
//! No nodes, scheduler or controller-manager: admission needs none. Pods are created and stay
//! Pending; `kubectl debug` patches `pods/ephemeralcontainers` of such a Pod all the same.
//!
//! One control plane serves every test of the binary (each test has its own namespaces, its own
//! webhook server and its own ValidatingWebhookConfiguration, whose `namespaceSelector` also
//! names the test, so tests never reach each other's webhooks). A watcher shell holds a pipe from
//! this process: when the test binary exits, the pipe closes and the shell stops etcd and the API
//! server and removes their files. Every process a test starts itself is killed when dropped.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

mod admission;

/// The bearer token of the test's `kubectl` (a `system:masters` user of the static token file).
const TOKEN: &str = "binauthz-kube-test-token";

/// Where `.ci/install-kube-control-plane` puts the binaries (BINAUTHZ_VERIFIERS_PREFIX moves them).
pub fn prefix() -> PathBuf {
    std::env::var_os("BINAUTHZ_VERIFIERS_PREFIX")
        .map(Into::into)
        .unwrap_or_else(|| "/usr/local/lib/binauthz-attest".into())
}

/// `kube/bin/NAME` under the prefix; panics (never skips) when it is not installed.
pub fn kube_binary(name: &str) -> PathBuf {
    let path = prefix().join("kube/bin").join(name);
    assert!(
        path.is_file(),
        "{} is required by the Kubernetes admission tests: run .ci/install-kube-control-plane",
        path.display()
    );
    path
}

/// A port the kernel just handed out on 127.0.0.1 (free again once the listener is dropped).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// Runs `cmd`, panicking with its stderr when it fails; returns stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A CA and serving certificates it signs, made with openssl: the API server's and each
/// webhook's. Rotation issues a new leaf from the same CA, as cert-manager does.
pub struct Pki {
    dir: PathBuf,
    pub ca_cert: PathBuf,
    ca_key: PathBuf,
}

impl Pki {
    pub fn new(dir: &Path, name: &str) -> Pki {
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let (ca_cert, ca_key) = (dir.join("ca.crt"), dir.join("ca.key"));
        run_ok(
            Command::new("openssl")
                .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
                .arg("ec_paramgen_curve:P-256")
                .args(["-nodes", "-days", "2", "-subj"])
                .arg(format!("/CN={name} test CA"))
                .arg("-keyout")
                .arg(&ca_key)
                .arg("-out")
                .arg(&ca_cert),
        );
        Pki {
            dir,
            ca_cert,
            ca_key,
        }
    }

    /// A new key and certificate for 127.0.0.1 and localhost, written to `cert` and `key` in one
    /// rename each (a reader never sees half a file).
    pub fn issue(&self, cert: &Path, key: &Path) {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let (tmp_key, csr, tmp_cert, ext) = (
            self.dir.join(format!("{n}.key")),
            self.dir.join(format!("{n}.csr")),
            self.dir.join(format!("{n}.crt")),
            self.dir.join(format!("{n}.ext")),
        );
        std::fs::write(
            &ext,
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        run_ok(
            Command::new("openssl")
                .args(["req", "-new", "-newkey", "ec", "-pkeyopt"])
                .arg("ec_paramgen_curve:P-256")
                .args(["-nodes", "-subj", "/CN=127.0.0.1", "-keyout"])
                .arg(&tmp_key)
                .arg("-out")
                .arg(&csr),
        );
        run_ok(
            Command::new("openssl")
                .args(["x509", "-req", "-days", "1", "-in"])
                .arg(&csr)
                .arg("-CA")
                .arg(&self.ca_cert)
                .arg("-CAkey")
                .arg(&self.ca_key)
                .arg("-set_serial")
                .arg(format!("{}", n % 1_000_000_007))
                .arg("-extfile")
                .arg(&ext)
                .arg("-out")
                .arg(&tmp_cert),
        );
        std::fs::rename(&tmp_key, key).unwrap();
        std::fs::rename(&tmp_cert, cert).unwrap();
    }

    /// The CA certificate, base64 as a `caBundle` holds it.
    pub fn ca_bundle(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(&self.ca_cert).unwrap())
    }
}

/// etcd and kube-apiserver, started once per test binary.
pub struct ControlPlane {
    dir: PathBuf,
    kubeconfig: PathBuf,
    audit_log: PathBuf,
    etcd: Mutex<Child>,
    apiserver: Mutex<Child>,
    /// Holds the watcher shell's stdin (see module docs).
    _watcher: Mutex<Child>,
}

/// The control plane shared by the tests of this binary.
pub fn control_plane() -> &'static ControlPlane {
    static PLANE: OnceLock<ControlPlane> = OnceLock::new();
    PLANE.get_or_init(ControlPlane::start)
}

/// The audit policy: metadata (with the admission webhooks' audit annotations) of every write
/// to Pods and workloads, nothing else.
const AUDIT_POLICY: &str = r#"apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    verbs: [create, update, patch]
    resources:
      - group: ""
        resources: [pods, pods/ephemeralcontainers]
      - group: apps
        resources: [deployments, replicasets, statefulsets, daemonsets]
      - group: batch
        resources: [jobs, cronjobs]
  - level: None
"#;

impl ControlPlane {
    fn start() -> ControlPlane {
        let etcd_bin = kube_binary("etcd");
        let apiserver_bin = kube_binary("kube-apiserver");
        kube_binary("kubectl");
        let dir = tempfile::Builder::new()
            .prefix("binauthz-kube-")
            .tempdir()
            .unwrap()
            .keep(); // the watcher removes it when the tests end
        let (client_port, peer_port, api_port) = (free_port(), free_port(), free_port());
        let etcd_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let etcd_log = std::fs::File::create(dir.join("etcd.log")).unwrap();
        let etcd = Command::new(&etcd_bin)
            .arg("--name=test")
            .arg(format!("--data-dir={}", dir.join("etcd").display()))
            .arg(format!("--listen-client-urls={etcd_url}"))
            .arg(format!("--advertise-client-urls={etcd_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=test={peer_url}"))
            .arg("--log-level=warn")
            .stdin(Stdio::null())
            .stdout(etcd_log.try_clone().unwrap())
            .stderr(etcd_log)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", etcd_bin.display()));

        // The API server's serving certificate, its service-account signing key, the token file.
        let pki = Pki::new(&dir, "apiserver");
        let (cert, key) = (dir.join("apiserver.crt"), dir.join("apiserver.key"));
        pki.issue(&cert, &key);
        let sa_key = dir.join("sa.key");
        let sa_pub = dir.join("sa.pub");
        run_ok(
            Command::new("openssl")
                .args(["genpkey", "-algorithm", "EC", "-pkeyopt"])
                .arg("ec_paramgen_curve:P-256")
                .arg("-out")
                .arg(&sa_key),
        );
        run_ok(
            Command::new("openssl")
                .args(["pkey", "-pubout", "-in"])
                .arg(&sa_key)
                .arg("-out")
                .arg(&sa_pub),
        );
        let tokens = dir.join("tokens.csv");
        std::fs::write(
            &tokens,
            format!("{TOKEN},binauthz-test-admin,1000,\"system:masters\"\n"),
        )
        .unwrap();
        let audit_policy = dir.join("audit-policy.yaml");
        std::fs::write(&audit_policy, AUDIT_POLICY).unwrap();
        let audit_log = dir.join("audit.log");

        // Admission plugins: the defaults (ValidatingAdmissionWebhook among them, named here
        // anyway) less ServiceAccount, which refuses every Pod of a namespace whose `default`
        // service account the controller-manager (not run here) has not created yet.
        // `--endpoint-reconciler-type=none`: no Endpoints for the `kubernetes` Service (its
        // address would be loopback, which Endpoints refuse).
        let apiserver_log = std::fs::File::create(dir.join("kube-apiserver.log")).unwrap();
        let apiserver = Command::new(&apiserver_bin)
            .arg(format!("--etcd-servers={etcd_url}"))
            .arg("--bind-address=127.0.0.1")
            .arg("--advertise-address=127.0.0.1")
            .arg(format!("--secure-port={api_port}"))
            .arg(format!("--tls-cert-file={}", cert.display()))
            .arg(format!("--tls-private-key-file={}", key.display()))
            .arg(format!("--cert-dir={}", dir.join("certs").display()))
            .arg(format!("--token-auth-file={}", tokens.display()))
            .arg("--authorization-mode=RBAC")
            .arg("--enable-admission-plugins=ValidatingAdmissionWebhook")
            .arg("--disable-admission-plugins=ServiceAccount")
            .arg("--service-account-issuer=https://kubernetes.default.svc")
            .arg(format!("--service-account-key-file={}", sa_pub.display()))
            .arg(format!(
                "--service-account-signing-key-file={}",
                sa_key.display()
            ))
            .arg("--service-cluster-ip-range=10.96.0.0/24")
            .arg("--endpoint-reconciler-type=none")
            .arg(format!("--audit-policy-file={}", audit_policy.display()))
            .arg(format!("--audit-log-path={}", audit_log.display()))
            .arg("--profiling=false")
            .arg("-v=1")
            .env_remove("HTTPS_PROXY")
            .env_remove("HTTP_PROXY")
            .env_remove("https_proxy")
            .env_remove("http_proxy")
            .stdin(Stdio::null())
            .stdout(apiserver_log.try_clone().unwrap())
            .stderr(apiserver_log)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", apiserver_bin.display()));

        let watcher = Command::new("sh")
            .args([
                "-c",
                r#"read _; kill -KILL "$1" "$2" 2>/dev/null
                   while kill -0 "$1" 2>/dev/null || kill -0 "$2" 2>/dev/null; do sleep 0.1; done
                   rm -rf "$3""#,
                "sh",
            ])
            .arg(apiserver.id().to_string())
            .arg(etcd.id().to_string())
            .arg(&dir)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();

        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: https://127.0.0.1:{api_port}\n    certificate-authority: {}\nusers:\n- name: admin\n  user:\n    token: {TOKEN}\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: admin\ncurrent-context: test\n",
                pki.ca_cert.display()
            ),
        )
        .unwrap();
        let plane = ControlPlane {
            kubeconfig,
            audit_log,
            etcd: Mutex::new(etcd),
            apiserver: Mutex::new(apiserver),
            _watcher: Mutex::new(watcher),
            dir,
        };
        plane.wait_ready();
        plane
    }

    /// Polls `/readyz` (every check: etcd, RBAC bootstrap, the webhook informers) until it
    /// answers `ok`, failing with the logs when a process died or 120 s passed.
    fn wait_ready(&self) {
        let started = Instant::now();
        let deadline = started + Duration::from_secs(120);
        loop {
            for (name, child) in [("etcd", &self.etcd), ("kube-apiserver", &self.apiserver)] {
                if let Ok(Some(status)) = child.lock().unwrap().try_wait() {
                    panic!("{name} exited ({status}); its log:\n{}", self.log(name));
                }
            }
            let out = self.kubectl(&["get", "--raw=/readyz"]);
            if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok" {
                eprintln!(
                    "kube-apiserver ready in {:.1} s",
                    started.elapsed().as_secs_f64()
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "kube-apiserver was not ready within 120 s: {}\nits log:\n{}",
                String::from_utf8_lossy(&out.stderr),
                self.log("kube-apiserver")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The last 60 lines of a component's log.
    pub fn log(&self, name: &str) -> String {
        let text =
            std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    /// `kubectl --kubeconfig ... ARGS` of the same release as the API server.
    pub fn kubectl_command(&self) -> Command {
        let mut cmd = Command::new(kube_binary("kubectl"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.dir)
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .arg("--request-timeout=60s");
        cmd
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_command().args(args).output().unwrap()
    }

    /// `kubectl ARGS` with `input` on stdin (`-f -`).
    pub fn kubectl_in(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .kubectl_command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// `kubectl ARGS`, which must succeed; returns stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl get ... -o json` of one object, or None when it does not exist.
    pub fn get_json(&self, namespace: &str, what: &str) -> Option<Value> {
        let out = self.kubectl(&["get", "-n", namespace, what, "-o", "json"]);
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains("NotFound"), "kubectl get {what}: {stderr}");
            return None;
        }
        Some(serde_json::from_slice(&out.stdout).unwrap())
    }

    /// The audit events recorded so far.
    pub fn audit_events(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.audit_log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits (up to 30 s) for the audit event `pick` selects: the log is written when the
    /// response completes, which can be just after kubectl has its answer.
    pub fn audit_event(&self, pick: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(event) = self.audit_events().into_iter().find(&pick) {
                return event;
            }
            assert!(Instant::now() < deadline, "no such audit event within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        for child in [&self.apiserver, &self.etcd] {
            let mut child = child.lock().unwrap();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
