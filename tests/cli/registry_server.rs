//! A real OCI registry for the tests: Debian's `docker-registry` (the CNCF distribution
//! server) on a free loopback port with a temporary storage directory, optionally behind
//! htpasswd auth; stopped when dropped. Also a raw client of the distribution API, to put
//! into the registry what byzhost itself would never push (malformed artifacts).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tempfile::TempDir;

const SERVER: &str = "/usr/bin/docker-registry";

pub struct RegistryServer {
    child: Option<Child>,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    dir: TempDir,
    auth: Option<(String, String)>,
}

impl RegistryServer {
    pub fn start() -> Self {
        Self::launch(None)
    }

    /// A registry that answers only `user` with `password` (HTTP basic auth, bcrypt htpasswd).
    pub fn start_with_auth(user: &str, password: &str) -> Self {
        Self::launch(Some((user.to_string(), password.to_string())))
    }

    fn launch(auth: Option<(String, String)>) -> Self {
        assert!(Path::new(SERVER).is_file(), "{SERVER} is missing: scripts/setup.sh installs Debian's docker-registry package");
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.path().join("storage").display()
        );
        if let Some((user, password)) = &auth {
            let hash = bcrypt::hash(password, 4).unwrap();
            std::fs::write(dir.path().join("htpasswd"), format!("{user}:{hash}\n")).unwrap();
            config
                .push_str(&format!("auth:\n  htpasswd:\n    realm: byzhost-tests\n    path: {}\n", dir.path().join("htpasswd").display()));
        }
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new(SERVER)
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let server = RegistryServer { child: Some(child), addr, dir, auth };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(mut stream) = TcpStream::connect(&self.addr) {
                let _ = write!(stream, "GET /v2/ HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr);
                let mut answer = String::new();
                let _ = stream.read_to_string(&mut answer);
                if answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.0 401") || answer.starts_with("HTTP/1.1") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the registry did not start: {}", std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default());
    }

    /// `oci://127.0.0.1:PORT/<rest>`.
    pub fn reference(&self, rest: &str) -> String {
        format!("oci://{}/{rest}", self.addr)
    }

    /// Where the registry keeps the bytes of the blob `digest` (`sha256:…`).
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir.path().join("storage/docker/registry/v2/blobs/sha256").join(&hex[..2]).join(hex).join("data")
    }

    /// Stops the server (the storage stays until drop).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn agent(&self) -> (ureq::Agent, Option<String>) {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(true).build().into();
        let header = self.auth.as_ref().map(|(u, p)| {
            use base64::Engine as _;
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}")))
        });
        (agent, header)
    }

    /// Uploads a blob with the distribution API's monolithic upload; returns its digest.
    pub fn put_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let (agent, auth) = self.agent();
        let digest = format!("sha256:{:x}", Sha256::digest(bytes));
        let mut post = agent.post(format!("http://{}/v2/{repo}/blobs/uploads/", self.addr));
        if let Some(a) = &auth {
            post = post.header("Authorization", a);
        }
        let answer = post.send_empty().unwrap();
        let location = answer.headers().get("Location").unwrap().to_str().unwrap().to_string();
        let location = if location.starts_with("http") { location } else { format!("http://{}{location}", self.addr) };
        let separator = if location.contains('?') { '&' } else { '?' };
        let mut put = agent.put(format!("{location}{separator}digest={digest}")).header("Content-Type", "application/octet-stream");
        if let Some(a) = &auth {
            put = put.header("Authorization", a);
        }
        put.send(bytes).unwrap();
        digest
    }

    /// Uploads a manifest under `tag`; returns its digest.
    pub fn put_manifest(&self, repo: &str, tag: &str, media_type: &str, bytes: &[u8]) -> String {
        let (agent, auth) = self.agent();
        let mut put = agent.put(format!("http://{}/v2/{repo}/manifests/{tag}", self.addr)).header("Content-Type", media_type);
        if let Some(a) = &auth {
            put = put.header("Authorization", a);
        }
        put.send(bytes).unwrap();
        format!("sha256:{:x}", Sha256::digest(bytes))
    }
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        self.stop();
    }
}
