//! How a policy is named: a local file, an OCI reference (`oci://HOST[:PORT]/REPO:TAG` or
//! `…@sha256:HEX`), or a package name `NAMESPACE:NAME@VERSION` that the user's `wkg`
//! configuration maps to an OCI repository, exactly as `wkg` maps it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context as _, Result};
use wasm_pkg_common::config::{Config, RegistryMapping};

/// A policy as the user named it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyRef {
    File(PathBuf),
    Oci(OciRef),
    Package(PackageName),
}

/// A manifest in a registry, by tag or by digest.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OciRef {
    /// `HOST[:PORT]`.
    pub registry: String,
    pub repository: String,
    pub selector: Selector,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Selector {
    Tag(String),
    /// `sha256:` and 64 lowercase hex digits: the manifest's digest.
    Digest(String),
}

/// `namespace:name@version`, as wkg names packages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageName {
    pub namespace: String,
    pub name: String,
    pub version: String,
}

const OCI_SCHEME: &str = "oci://";

impl PolicyRef {
    /// The local file, when this names one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            PolicyRef::File(p) => Some(p),
            _ => None,
        }
    }

    /// The OCI reference this names: the user's wkg configuration maps a package name.
    pub fn to_oci(&self) -> Result<Option<OciRef>> {
        match self {
            PolicyRef::File(_) => Ok(None),
            PolicyRef::Oci(r) => Ok(Some(r.clone())),
            PolicyRef::Package(p) => p.to_oci(&wkg_config()?).map(Some),
        }
    }
}

impl FromStr for PolicyRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(rest) = s.strip_prefix(OCI_SCHEME) {
            return rest.parse().map(PolicyRef::Oci).map_err(|e| format!("`{s}`: {e}"));
        }
        if let Some(package) = PackageName::parse(s) {
            return Ok(PolicyRef::Package(package));
        }
        if s.is_empty() {
            return Err("a policy reference cannot be empty".into());
        }
        Ok(PolicyRef::File(PathBuf::from(s)))
    }
}

impl fmt::Display for PolicyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyRef::File(p) => write!(f, "{}", p.display()),
            PolicyRef::Oci(r) => write!(f, "{r}"),
            PolicyRef::Package(p) => write!(f, "{}:{}@{}", p.namespace, p.name, p.version),
        }
    }
}

impl serde::Serialize for PolicyRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PolicyRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

impl OciRef {
    /// `HOST[:PORT]/REPO:TAG` or `…@sha256:…`, without the scheme (what oci-client parses).
    pub fn whole(&self) -> String {
        match &self.selector {
            Selector::Tag(t) => format!("{}/{}:{t}", self.registry, self.repository),
            Selector::Digest(d) => format!("{}/{}@{d}", self.registry, self.repository),
        }
    }

    /// The same repository at `digest`.
    pub fn at_digest(&self, digest: &str) -> OciRef {
        OciRef { selector: Selector::Digest(digest.to_string()), ..self.clone() }
    }

    /// Whether the registry is on this machine (plain HTTP is allowed there).
    pub fn is_loopback(&self) -> bool {
        let host = match self.registry.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => &self.registry,
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

impl fmt::Display for OciRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{OCI_SCHEME}{}", self.whole())
    }
}

impl FromStr for OciRef {
    type Err = String;
    /// `HOST[:PORT]/REPO:TAG` or `HOST[:PORT]/REPO@sha256:HEX` (no scheme).
    fn from_str(s: &str) -> Result<Self, String> {
        let (registry, rest) = s.split_once('/').ok_or("an OCI reference is oci://HOST[:PORT]/REPOSITORY:TAG or …@sha256:DIGEST")?;
        if registry.is_empty() || !registry.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)) {
            return Err(format!("`{registry}` is not a registry host (HOST or HOST:PORT)"));
        }
        let (repository, selector) = if let Some((repo, digest)) = rest.split_once('@') {
            (repo, Selector::Digest(check_digest(digest)?))
        } else {
            let (repo, tag) = rest.rsplit_once(':').ok_or("name a tag (REPOSITORY:TAG) or a digest (REPOSITORY@sha256:…)")?;
            (repo, Selector::Tag(check_tag(tag)?))
        };
        check_repository(repository)?;
        Ok(OciRef { registry: registry.to_string(), repository: repository.to_string(), selector })
    }
}

/// `sha256:` and 64 lowercase hex digits.
pub fn check_digest(digest: &str) -> Result<String, String> {
    let ok = digest
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    if ok {
        Ok(digest.to_string())
    } else {
        Err(format!("`{digest}` is not a digest (sha256: and 64 lowercase hex digits)"))
    }
}

/// The distribution spec's tag grammar: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
fn check_tag(tag: &str) -> Result<String, String> {
    let mut bytes = tag.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    if first_ok && tag.len() <= 128 && bytes.all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
        Ok(tag.to_string())
    } else {
        Err(format!("`{tag}` is not a tag (letters, digits, `_`, `.` and `-`, at most 128)"))
    }
}

/// The distribution spec's repository grammar: lowercase components joined by `/`.
fn check_repository(repo: &str) -> Result<(), String> {
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
            && c.ends_with(|ch: char| ch.is_ascii_alphanumeric())
    };
    if repo.split('/').all(component_ok) {
        Ok(())
    } else {
        Err(format!("`{repo}` is not a repository name (lowercase letters, digits, `.`, `_`, `-`, parts joined by `/`)"))
    }
}

impl PackageName {
    /// `ns:name@version` with kebab-case labels and a semver version; `None` otherwise
    /// (the text is then a file path).
    fn parse(s: &str) -> Option<PackageName> {
        let (package, version) = s.split_once('@')?;
        let (namespace, name) = package.split_once(':')?;
        let label = |l: &str| {
            l.split('-').all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
                && l.starts_with(|c: char| c.is_ascii_lowercase())
        };
        (label(namespace) && label(name) && wasm_pkg_common::package::Version::parse(version).is_ok()).then(|| PackageName {
            namespace: namespace.into(),
            name: name.into(),
            version: version.into(),
        })
    }

    /// The OCI reference wkg would pull: registry and namespace prefix from the package's
    /// override, else its namespace's mapping, else the default registry; repository
    /// `PREFIX` + `NAMESPACE/NAME`; tag the version.
    pub fn to_oci(&self, config: &Config) -> Result<OciRef> {
        let package: wasm_pkg_common::package::PackageRef =
            format!("{}:{}", self.namespace, self.name).parse().with_context(|| format!("`{self}` is not a package name"))?;
        let mapping = config.package_registry_override(&package).or_else(|| config.namespace_registry(package.namespace()));
        let (registry, prefix) = match mapping {
            Some(RegistryMapping::Custom(custom)) => {
                let oci: Option<serde_json::Map<String, serde_json::Value>> =
                    custom.metadata.protocol_config("oci").with_context(|| format!("wkg configuration for `{}`", self.namespace))?;
                let field = |k: &str| oci.as_ref().and_then(|o| o.get(k)).and_then(|v| v.as_str()).map(str::to_string);
                (field("registry").unwrap_or_else(|| custom.registry.to_string()), field("namespacePrefix"))
            }
            Some(RegistryMapping::Registry(r)) => (r.to_string(), None),
            None => match config.default_registry() {
                Some(r) => (r.to_string(), None),
                None => bail!(
                    "`{self}`: no registry is configured for the namespace `{ns}`; add it to {} under [namespace_registries] \
                     (e.g. `{ns} = {{ registry = \"HOST\", metadata = {{ preferredProtocol = \"oci\", \"oci\" = {{ registry = \"HOST:PORT\", namespacePrefix = \"{ns}/\" }} }} }}`), or name the policy as oci://HOST/REPOSITORY:TAG",
                    wkg_config_path().map_or("wasm-pkg/config.toml".into(), |p| p.display().to_string()),
                    ns = self.namespace
                ),
            },
        };
        let repository = format!("{}{}/{}", prefix.unwrap_or_default(), self.namespace, self.name);
        format!("{registry}/{repository}:{}", self.version)
            .parse()
            .map_err(|e| anyhow::anyhow!("`{self}` maps to an invalid OCI reference: {e}"))
    }
}

impl fmt::Display for PackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}@{}", self.namespace, self.name, self.version)
    }
}

/// Where wkg keeps its configuration: `wasm-pkg/config.toml` under the user's config
/// directory (`$XDG_CONFIG_HOME`, else `~/.config`).
pub fn wkg_config_path() -> Option<PathBuf> {
    Config::global_config_path()
}

/// The user's wkg configuration, or wkg's defaults when there is none.
fn wkg_config() -> Result<Config> {
    let mut config = Config::default();
    let Some(path) = wkg_config_path() else { return Ok(config) };
    match std::fs::read_to_string(&path) {
        Ok(text) => config.merge(Config::from_toml(&text).with_context(|| format!("reading the wkg configuration {}", path.display()))?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading the wkg configuration {}", path.display())),
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_and_print_as_spelled() {
        for s in [
            "policies/dpsgd.wasm",
            "oci://127.0.0.1:5000/byz/sim-reweight:0.1.0",
            &format!("oci://ghcr.io/lab/attacks/dlie@sha256:{}", "a".repeat(64)),
            "byz:sim-reweight@0.1.0",
        ] {
            assert_eq!(s.parse::<PolicyRef>().unwrap().to_string(), s);
        }
        assert!(matches!("byz:dlie@0.1.0".parse(), Ok(PolicyRef::Package(_))));
        assert!(matches!("my:file.wasm".parse(), Ok(PolicyRef::File(_))), "not a package name: a path");
    }

    #[test]
    fn bad_oci_references_say_what_is_wrong() {
        let err = |s: &str| s.parse::<PolicyRef>().unwrap_err();
        assert!(err("oci://127.0.0.1:5000/byz/dlie").contains("name a tag"));
        assert!(err("oci://127.0.0.1:5000/Byz/dlie:1").contains("not a repository name"));
        assert!(err("oci://h/r@sha256:abc").contains("not a digest"));
        assert!(err("oci://h/r:bad tag").contains("not a tag"));
        assert!(err("oci://nohost").contains("oci://HOST"));
    }

    #[test]
    fn loopback_registries_are_recognised() {
        let r = |s: &str| s.parse::<OciRef>().unwrap();
        assert!(r("127.0.0.1:5000/a:b").is_loopback());
        assert!(r("localhost/a:b").is_loopback());
        assert!(r("[::1]:80/a:b").is_loopback());
        assert!(!r("ghcr.io/a:b").is_loopback());
    }

    #[test]
    fn package_names_map_as_wkg_maps_them() {
        let config = Config::from_toml(
            r#"
            [namespace_registries]
            byz = { registry = "local", metadata = { preferredProtocol = "oci", "oci" = { registry = "127.0.0.1:5000", namespacePrefix = "lab/" } } }
            other = "registry.example.com"
            "#,
        )
        .unwrap();
        let name = |s: &str| PackageName::parse(s).unwrap();
        assert_eq!(name("byz:dlie@0.1.0").to_oci(&config).unwrap().to_string(), "oci://127.0.0.1:5000/lab/byz/dlie:0.1.0");
        assert_eq!(name("other:x@1.2.3").to_oci(&config).unwrap().to_string(), "oci://registry.example.com/other/x:1.2.3");
        let err = name("none:x@1.0.0").to_oci(&Config::empty()).unwrap_err().to_string();
        assert!(err.contains("namespace_registries") && err.contains("`none`"), "{err}");
    }
}
