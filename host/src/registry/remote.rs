//! One registry, spoken to over the OCI distribution API (oci-client): manifests and blobs
//! in and out, tags listed. Synchronous to its callers: each [`Remote`] owns a
//! current-thread tokio runtime. HTTPS (rustls, ring) unless the registry is on loopback or
//! named with `--insecure-registry`; connect and read timeouts; credentials given, else
//! Docker's, else anonymous. Every error names the registry and says what to do.

use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use futures_util::StreamExt as _;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};

use super::artifact::{Descriptor, MANIFEST_MEDIA_TYPE};
use super::reference::OciRef;

/// How registries are reached: the flags every command that names a policy takes.
#[derive(Clone, Debug, Default)]
pub struct Transport {
    /// Never touch the network: tags resolve from the store's index.
    pub offline: bool,
    /// Registries (`HOST[:PORT]`) spoken to over plain HTTP besides loopback ones.
    pub insecure: Vec<String>,
    /// `--username` and the password read from stdin.
    pub credentials: Option<(String, String)>,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Remote {
    runtime: tokio::runtime::Runtime,
    client: Client,
    auth: RegistryAuth,
    reference: Reference,
    what: String,
    /// The registry is on this machine (so an unreachable one is most likely not running).
    loopback: bool,
}

impl Remote {
    /// Connects to `oci`'s registry for `op`, authenticating first when it asks.
    pub fn connect(oci: &OciRef, transport: &Transport, op: RegistryOperation) -> Result<Remote> {
        if transport.offline {
            bail!("{oci}: --offline, and the policy store has no copy; run once without --offline to fetch it");
        }
        // Several providers may be compiled in; the process default is chosen once.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let plain_http = oci.is_loopback() || transport.insecure.iter().any(|h| *h == oci.registry);
        let config = ClientConfig {
            protocol: if plain_http { ClientProtocol::HttpsExcept(vec![oci.registry.clone()]) } else { ClientProtocol::Https },
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: Some(READ_TIMEOUT),
            user_agent: concat!("byzhost/", env!("CARGO_PKG_VERSION")),
            platform_resolver: None,
            ..Default::default()
        };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the registry client")?;
        let reference: Reference = oci.whole().parse().with_context(|| format!("{oci} is not a reference the registry client accepts"))?;
        let remote = Remote {
            runtime,
            client: Client::new(config),
            auth: auth_for(&oci.registry, transport),
            reference,
            what: oci.to_string(),
            loopback: oci.is_loopback(),
        };
        remote.runtime.block_on(remote.client.auth(&remote.reference, &remote.auth, op)).map_err(|e| remote.explain(e))?;
        Ok(remote)
    }

    /// The manifest's bytes as the registry sent them (checked by the caller).
    pub fn manifest(&self) -> Result<Vec<u8>> {
        let accepted =
            [MANIFEST_MEDIA_TYPE, "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.index.v1+json"];
        let (bytes, _) =
            self.runtime.block_on(self.client.pull_manifest_raw(&self.reference, &self.auth, &accepted)).map_err(|e| self.explain(e))?;
        Ok(bytes.to_vec())
    }

    /// A blob, read no further than the size its descriptor declares.
    pub fn blob(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        let layer = OciDescriptor {
            media_type: descriptor.media_type.clone(),
            digest: descriptor.digest.clone(),
            size: descriptor.size as i64,
            ..Default::default()
        };
        self.runtime.block_on(async {
            let mut stream = self.client.pull_blob_stream(&self.reference, &layer).await.map_err(|e| self.explain(e))?.stream;
            let mut bytes = Vec::with_capacity(descriptor.size.min(1 << 26) as usize);
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.with_context(|| format!("{}: reading blob {}", self.what, descriptor.digest))?;
                if (bytes.len() + chunk.len()) as u64 > descriptor.size {
                    bail!("{}: the registry sent more than the {} bytes blob {} has", self.what, descriptor.size, descriptor.digest);
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(bytes)
        })
    }

    /// Uploads a blob unless the registry has it.
    pub fn push_blob(&self, bytes: &[u8], digest: &str) -> Result<()> {
        let exists = self.runtime.block_on(self.client.blob_exists(&self.reference, digest)).unwrap_or(false);
        if !exists {
            self.runtime.block_on(self.client.push_blob(&self.reference, bytes.to_vec(), digest)).map_err(|e| self.explain(e))?;
        }
        Ok(())
    }

    /// Uploads the manifest under the reference's tag.
    pub fn push_manifest(&self, bytes: &[u8]) -> Result<()> {
        let content_type = MANIFEST_MEDIA_TYPE.parse().expect("a valid header value");
        self.runtime.block_on(self.client.push_manifest_raw(&self.reference, bytes.to_vec(), content_type)).map_err(|e| self.explain(e))?;
        Ok(())
    }

    /// Every tag of the repository, in the registry's order, following pagination.
    pub fn tags(&self) -> Result<Vec<String>> {
        let mut tags: Vec<String> = Vec::new();
        loop {
            let last = tags.last().cloned();
            let page = self
                .runtime
                .block_on(self.client.list_tags(&self.reference, &self.auth, Some(1000), last.as_deref()))
                .map_err(|e| self.explain(e))?;
            let more = page.tags.len() == 1000;
            tags.extend(page.tags);
            if !more {
                return Ok(tags);
            }
        }
    }

    /// An error of the registry client, said in terms of what to do.
    fn explain(&self, e: OciDistributionError) -> anyhow::Error {
        let registry = self.reference.registry();
        let login = format!("log in with `docker login {registry}`, or pass --username and --password-stdin");
        match &e {
            OciDistributionError::UnauthorizedError { .. } | OciDistributionError::AuthenticationFailure(_) => {
                anyhow!("{}: registry {registry} refused access ({e}); {login}", self.what)
            }
            OciDistributionError::ServerError { code: 401 | 403, .. } => {
                anyhow!("{}: registry {registry} refused access (HTTP 401/403: authentication required or denied); {login}", self.what)
            }
            OciDistributionError::RequestError(r) if r.is_connect() || r.is_timeout() => {
                let hint = if self.loopback {
                    "is it running?".to_string()
                } else {
                    format!("check the address and the network; a registry that speaks plain HTTP needs --insecure-registry {registry}")
                };
                anyhow!("{}: cannot reach registry {registry} ({}); {hint}", self.what, error_chain(r))
            }
            OciDistributionError::ImageManifestNotFoundError(_) => anyhow!("{}: no such manifest in registry {registry}", self.what),
            OciDistributionError::RegistryError { envelope, .. } => {
                let codes: Vec<String> = envelope.errors.iter().map(|x| format!("{:?}: {}", x.code, x.message)).collect();
                let unauthorized = envelope
                    .errors
                    .iter()
                    .any(|x| matches!(x.code, oci_client::errors::OciErrorCode::Unauthorized | oci_client::errors::OciErrorCode::Denied));
                let hint = if unauthorized { format!("; {login}") } else { String::new() };
                anyhow!("{}: registry {registry} answered {}{hint}", self.what, codes.join(", "))
            }
            _ => anyhow!("{}: registry {registry}: {}", self.what, e),
        }
    }
}

/// An error and its sources on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// Explicit credentials, else what `docker login` stored (config.json or a credential
/// helper), else anonymous.
fn auth_for(registry: &str, transport: &Transport) -> RegistryAuth {
    if let Some((user, password)) = &transport.credentials {
        return RegistryAuth::Basic(user.clone(), password.clone());
    }
    match docker_credential::get_credential(registry) {
        Ok(docker_credential::DockerCredential::UsernamePassword(user, password)) => RegistryAuth::Basic(user, password),
        Ok(docker_credential::DockerCredential::IdentityToken(token)) => RegistryAuth::Bearer(token),
        Err(_) => RegistryAuth::Anonymous,
    }
}
