//! `delos describe`: what every service is, read from the code itself, for the
//! repository checks (scripts/lib/crates.py) and docs/configuration.md.
//!
//! Nothing is listed by hand but the eight crates: ports are the listeners'
//! defaults (`<section>.port` of `Settings::default()`), routes come from each
//! crate's OpenAPI document (`ApiDoc`), settings from serializing
//! `Settings::default()` (so a new field appears by itself), their descriptions
//! from the fields' doc comments (through `utoipa::ToSchema`), and what a service
//! calls from the default URLs of its settings: a port of another service, a
//! `postgres://` or `redis://` server, or anything else (third parties).
//! Secrets (`common::config::Secret`, whose `Debug` never shows the value) are
//! found by probing and printed only as empty or `<redacted>`. Starts nothing:
//! no network, no database.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;

use common::config::{ENV_PREFIX, ENV_SEPARATOR, LIST_KEYS, SERVICE_TOKEN_ENV, SERVICE_TOKEN_KEY};
use common::http::ServiceHandle;
use serde_json::{Map, Value, json};

/// Bumped when a field of the JSON document changes meaning or goes away.
pub const FORMAT_VERSION: u64 = 1;

/// Every service, as its code describes it.
#[derive(Debug, Clone)]
pub struct Description {
    pub services: Vec<Service>,
    /// Seconds a stopping server gives open requests ([`common::http::SHUTDOWN_TIMEOUT_SECS`]).
    pub shutdown_timeout_secs: u64,
}

/// One service.
#[derive(Debug, Clone)]
pub struct Service {
    /// The crate's name (and the service's, in reports, variables and deployments).
    pub name: &'static str,
    /// Listener name (`http`, `grpc`) → default port.
    pub ports: BTreeMap<String, u16>,
    /// The routes of its OpenAPI document, sorted by path and method.
    pub routes: Vec<Route>,
    /// Nested setting groups (`http`, `common.reporter`), with their descriptions.
    pub sections: Vec<Section>,
    /// Every leaf setting, sorted by key.
    pub settings: Vec<Setting>,
    pub depends_on: Dependencies,
    /// Where the crate's entry points are defined (`<crate>::config::Settings`, ...).
    pub types: Types,
}

/// One operation of a service's OpenAPI document.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    pub path: String,
    /// Upper case (`GET`).
    pub method: String,
}

/// A group of settings (a struct-typed field).
#[derive(Debug, Clone)]
pub struct Section {
    /// Dotted key (`common.reporter`).
    pub key: String,
    pub description: String,
}

/// One leaf setting.
#[derive(Debug, Clone)]
pub struct Setting {
    /// Dotted key, as in the `DELOS_CONFIG` file (`http.port`).
    pub key: String,
    /// The default, as JSON; a secret's is `""` (unset) or `"<redacted>"`.
    pub default: Value,
    pub secret: bool,
    /// Comma-separated list when set from the environment.
    pub list: bool,
    /// The variables that set it, strongest first: the service's own
    /// (`DELOS_<SERVICE>__...`), the shared one (`DELOS__...`), the token's shorthand.
    pub env: Vec<String>,
    /// The field's doc comment (empty when it has none).
    pub description: String,
}

/// What a service calls.
#[derive(Debug, Clone, Default)]
pub struct Dependencies {
    pub services: Vec<ServiceCall>,
    pub postgres: Option<Postgres>,
    pub redis: Option<Redis>,
    /// URLs that are no Delos service (price APIs).
    pub external: Vec<External>,
}

/// A call to another Delos service: a setting whose default URL is on its port.
#[derive(Debug, Clone)]
pub struct ServiceCall {
    pub service: &'static str,
    pub setting: String,
    /// The callee's listener (`http`, `grpc`) and port.
    pub listener: String,
    pub port: u16,
}

/// The service's own Postgres database.
#[derive(Debug, Clone)]
pub struct Postgres {
    /// The server URL's setting (`pg.url`).
    pub setting: String,
    /// `<section>.database`'s default.
    pub database: String,
    pub port: Option<u16>,
}

/// The Redis server a service uses.
#[derive(Debug, Clone)]
pub struct Redis {
    pub setting: String,
    pub port: Option<u16>,
}

/// A URL that is not a Delos service.
#[derive(Debug, Clone)]
pub struct External {
    pub setting: String,
    pub url: String,
}

/// Full paths of the crate's `Settings`, `ApiDoc` and `build`.
#[derive(Debug, Clone)]
pub struct Types {
    pub settings: &'static str,
    pub api_doc: &'static str,
    pub build: &'static str,
}

/// What one crate gives before the services are compared with each other.
struct Raw {
    name: &'static str,
    defaults: Value,
    /// Keys of the leaves that are secrets.
    secrets: Vec<String>,
    schema: Value,
    components: BTreeMap<String, Value>,
    openapi: Value,
    types: Types,
}

/// The full path of the type of `f`, which must be a service's `build`.
fn entry_point<S, F, Fut>(_: &F) -> &'static str
where
    F: Fn(S) -> Fut,
    Fut: Future<Output = anyhow::Result<ServiceHandle>>,
{
    std::any::type_name::<F>()
}

/// A value no setting has by default; `Debug` of a `Secret` holding it never shows it.
const PROBE: &str = "delosdescribeprobe";

/// One crate's raw facts. A macro, not a generic function: the bounds would name
/// serde's traits, which the launcher does not depend on.
macro_rules! raw {
    ($krate:ident) => {{
        use utoipa::{OpenApi as _, PartialSchema as _, ToSchema as _};
        let defaults = serde_json::to_value($krate::Settings::default())?;
        let probe = |v: Value| {
            serde_json::from_value::<$krate::Settings>(v)
                .ok()
                .map(|s| format!("{s:?}"))
        };
        let mut components = Vec::new();
        $krate::Settings::schemas(&mut components);
        Raw {
            name: stringify!($krate),
            secrets: secrets(&defaults, &probe),
            defaults,
            schema: serde_json::to_value($krate::Settings::schema())?,
            components: components
                .into_iter()
                .map(|(name, schema)| Ok((name, serde_json::to_value(schema)?)))
                .collect::<anyhow::Result<_>>()?,
            openapi: serde_json::to_value($krate::ApiDoc::openapi())?,
            types: Types {
                settings: std::any::type_name::<$krate::Settings>(),
                api_doc: std::any::type_name::<$krate::ApiDoc>(),
                build: entry_point::<$krate::Settings, _, _>(&$krate::build),
            },
        }
    }};
}

/// Describes every service (sorted by name). Pure: reads no environment.
pub fn describe() -> anyhow::Result<Description> {
    let raws = [
        raw!(api_cache_proxy),
        raw!(api_updater),
        raw!(create_buy_order),
        raw!(db_proxy),
        raw!(fetch_buy_orders),
        raw!(health_check),
        raw!(lambo_checker),
        raw!(sensor_api),
    ];
    let leaves: Vec<Vec<(String, Value)>> = raws.iter().map(|r| leaves(&r.defaults)).collect();
    let listeners: Vec<BTreeMap<String, u16>> = leaves.iter().map(|l| ports(l)).collect();
    let mut services = Vec::new();
    for (i, raw) in raws.iter().enumerate() {
        let others: Vec<(&'static str, &BTreeMap<String, u16>)> = raws
            .iter()
            .zip(&listeners)
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, (r, p))| (r.name, p))
            .collect();
        services.push(service(raw, &leaves[i], listeners[i].clone(), &others));
    }
    services.sort_by_key(|s| s.name);
    Ok(Description {
        services,
        shutdown_timeout_secs: common::http::SHUTDOWN_TIMEOUT_SECS,
    })
}

fn service(
    raw: &Raw,
    leaves: &[(String, Value)],
    ports: BTreeMap<String, u16>,
    others: &[(&'static str, &BTreeMap<String, u16>)],
) -> Service {
    let settings: Vec<Setting> = leaves
        .iter()
        .map(|(key, default)| {
            let secret = raw.secrets.contains(key);
            Setting {
                key: key.clone(),
                default: if secret {
                    redacted(default)
                } else {
                    default.clone()
                },
                secret,
                list: LIST_KEYS.contains(&key.as_str()),
                env: env_names(raw.name, key),
                description: description(&raw.schema, &raw.components, key).unwrap_or_default(),
            }
        })
        .collect();
    let sections = sections(&raw.defaults)
        .into_iter()
        .map(|key| Section {
            description: description(&raw.schema, &raw.components, &key).unwrap_or_default(),
            key,
        })
        .collect();
    Service {
        name: raw.name,
        depends_on: dependencies(&ports, leaves, &raw.secrets, others),
        ports,
        routes: routes(&raw.openapi),
        sections,
        settings,
        types: raw.types.clone(),
    }
}

// ------------------------------------------------------------------ settings

/// Every leaf of the defaults (scalars, lists, empty groups), by dotted key, sorted.
fn leaves(defaults: &Value) -> Vec<(String, Value)> {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, child) in m {
                    walk(&join(prefix, k), child, out);
                }
            }
            _ => out.push((prefix.to_string(), v.clone())),
        }
    }
    let mut out = Vec::new();
    walk("", defaults, &mut out);
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Dotted keys of the non-empty groups below the root, sorted.
fn sections(defaults: &Value) -> Vec<String> {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<String>) {
        if let Value::Object(m) = v {
            if !m.is_empty() && !prefix.is_empty() {
                out.push(prefix.to_string());
            }
            for (k, child) in m {
                walk(&join(prefix, k), child, out);
            }
        }
    }
    let mut out = Vec::new();
    walk("", defaults, &mut out);
    out.sort();
    out
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Keys of the string or unset leaves that are secrets: set to [`PROBE`], the
/// settings still load, and their `Debug` output does not show it.
fn secrets(defaults: &Value, probe: &dyn Fn(Value) -> Option<String>) -> Vec<String> {
    leaves(defaults)
        .into_iter()
        .filter(|(_, v)| v.is_string() || v.is_null())
        .filter(|(key, _)| {
            let mut v = defaults.clone();
            set(&mut v, key, Value::String(PROBE.into()));
            probe(v).is_some_and(|debug| !debug.contains(PROBE))
        })
        .map(|(key, _)| key)
        .collect()
}

fn set(root: &mut Value, key: &str, value: Value) {
    let mut node = root;
    for part in key.split('.') {
        match node {
            Value::Object(m) => node = m.entry(part).or_insert(Value::Null),
            _ => return,
        }
    }
    *node = value;
}

fn redacted(default: &Value) -> Value {
    match default {
        Value::Null => Value::Null,
        Value::String(s) if s.is_empty() => Value::String(String::new()),
        _ => Value::String("<redacted>".into()),
    }
}

/// The variables `common::config::load` reads for `key`, strongest first.
fn env_names(service: &str, key: &str) -> Vec<String> {
    let tail = key
        .split('.')
        .map(str::to_ascii_uppercase)
        .collect::<Vec<_>>()
        .join(ENV_SEPARATOR);
    let mut names = vec![
        format!(
            "{ENV_PREFIX}_{}{ENV_SEPARATOR}{tail}",
            service.to_ascii_uppercase()
        ),
        format!("{ENV_PREFIX}{ENV_SEPARATOR}{tail}"),
    ];
    if key == SERVICE_TOKEN_KEY {
        names.insert(0, SERVICE_TOKEN_ENV.to_string());
    }
    names
}

/// The doc comment of the field at `key`, following the schema's references.
fn description(schema: &Value, components: &BTreeMap<String, Value>, key: &str) -> Option<String> {
    let mut node = schema;
    let parts: Vec<&str> = key.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let prop = object(node, components, 0)?.get("properties")?.get(*part)?;
        if i + 1 == parts.len() {
            let text = text_of(prop).or_else(|| object(prop, components, 0).and_then(text_of))?;
            return Some(text.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        node = prop;
    }
    None
}

/// The object schema `node` is or refers to.
fn object<'a>(node: &'a Value, components: &'a BTreeMap<String, Value>, depth: u8) -> Option<&'a Value> {
    if depth > 8 {
        return None;
    }
    if node.get("properties").is_some() {
        return Some(node);
    }
    if let Some(r) = node.get("$ref").and_then(Value::as_str) {
        return object(components.get(r.rsplit('/').next()?)?, components, depth + 1);
    }
    ["allOf", "oneOf", "anyOf"]
        .iter()
        .filter_map(|k| node.get(*k)?.as_array())
        .flatten()
        .find_map(|n| object(n, components, depth + 1))
}

fn text_of(node: &Value) -> Option<&str> {
    node.get("description")
        .and_then(Value::as_str)
        .or_else(|| {
            ["allOf", "oneOf", "anyOf"]
                .iter()
                .filter_map(|k| node.get(*k)?.as_array())
                .flatten()
                .find_map(|n| n.get("description")?.as_str())
        })
        .filter(|t| !t.trim().is_empty())
}

// ------------------------------------------------------------------ ports, routes, calls

/// `<section>.port` of every top-level section (`http`, `grpc`).
fn ports(leaves: &[(String, Value)]) -> BTreeMap<String, u16> {
    leaves
        .iter()
        .filter_map(|(key, v)| {
            let (section, field) = key.split_once('.')?;
            let port = u16::try_from(v.as_u64()?).ok()?;
            (field == "port").then(|| (section.to_string(), port))
        })
        .collect()
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn routes(openapi: &Value) -> Vec<Route> {
    let mut out: Vec<Route> = openapi
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(move |m| item.get(**m).is_some())
                .map(move |m| Route {
                    path: path.clone(),
                    method: m.to_ascii_uppercase(),
                })
        })
        .collect();
    out.sort();
    out
}

/// `scheme://[user@]host[:port][/...]` → (scheme, port).
fn url_parts(s: &str) -> Option<(String, Option<u16>)> {
    let (scheme, rest) = s.split_once("://")?;
    if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || c == '+') {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    if host_port.is_empty() {
        return None;
    }
    let port = match host_port.rsplit_once(':') {
        Some((_, p)) if !p.contains(']') => Some(p.parse().ok()?),
        _ => None,
    };
    Some((scheme.to_ascii_lowercase(), port))
}

fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

fn dependencies(
    own_ports: &BTreeMap<String, u16>,
    leaves: &[(String, Value)],
    secrets: &[String],
    others: &[(&'static str, &BTreeMap<String, u16>)],
) -> Dependencies {
    let mut deps = Dependencies::default();
    let default_of = |key: &str| leaves.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    for (key, value) in leaves.iter().filter(|(k, _)| !secrets.contains(k)) {
        let mut urls = Vec::new();
        strings(value, &mut urls);
        for url in urls {
            let Some((scheme, port)) = url_parts(&url) else {
                continue;
            };
            let section = key.rsplit_once('.').map_or("", |(s, _)| s);
            match scheme.as_str() {
                "postgres" | "postgresql" => {
                    let database = default_of(&join(section, "database"))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    deps.postgres = Some(Postgres {
                        setting: key.clone(),
                        database,
                        port,
                    });
                }
                "redis" | "rediss" => {
                    deps.redis = Some(Redis {
                        setting: key.clone(),
                        port,
                    });
                }
                _ => {
                    let callee = port.and_then(|p| {
                        others.iter().find_map(|(other, ports)| {
                            ports
                                .iter()
                                .find(|(_, q)| **q == p)
                                .map(|(l, _)| (*other, l.clone(), p))
                        })
                    });
                    match callee {
                        Some((service, listener, port)) => deps.services.push(ServiceCall {
                            service,
                            setting: key.clone(),
                            listener,
                            port,
                        }),
                        // Its own listener (health_check's reporter URL): no call.
                        None if port.is_some_and(|p| own_ports.values().any(|q| *q == p)) => {}
                        None => deps.external.push(External {
                            setting: key.clone(),
                            url,
                        }),
                    }
                }
            }
        }
    }
    deps
}

// ------------------------------------------------------------------ output

impl Description {
    /// The JSON document `delos describe --json` prints.
    pub fn to_json(&self) -> Value {
        json!({
            "format_version": FORMAT_VERSION,
            "config": {
                "file_env": common::config::CONFIG_FILE_ENV,
                "shared_prefix": format!("{ENV_PREFIX}{ENV_SEPARATOR}"),
                "service_prefix": format!("{ENV_PREFIX}_<SERVICE>{ENV_SEPARATOR}"),
                "separator": ENV_SEPARATOR,
                "service_token_env": SERVICE_TOKEN_ENV,
            },
            "http": { "shutdown_timeout_secs": self.shutdown_timeout_secs },
            "services": self.services.iter().map(Service::to_json).collect::<Vec<_>>(),
        })
    }

    /// The settings tables of docs/configuration.md (`delos describe --markdown`).
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        for s in &self.services {
            let _ = writeln!(out, "### {}\n", s.name);
            let ports: Vec<String> = s.ports.iter().map(|(l, p)| format!("{l} {p}")).collect();
            let mut calls: Vec<String> = s
                .depends_on
                .services
                .iter()
                .map(|c| c.service.to_string())
                .collect();
            calls.dedup();
            if let Some(pg) = &s.depends_on.postgres {
                calls.push(format!("Postgres (database `{}`)", pg.database));
            }
            if s.depends_on.redis.is_some() {
                calls.push("Redis".into());
            }
            if !s.depends_on.external.is_empty() {
                calls.push("third-party APIs".into());
            }
            let _ = writeln!(
                out,
                "Variables `{ENV_PREFIX}_{}{ENV_SEPARATOR}…`; ports: {}; calls: {}.\n",
                s.name.to_ascii_uppercase(),
                ports.join(", "),
                if calls.is_empty() {
                    "nothing".to_string()
                } else {
                    calls.join(", ")
                }
            );
            out.push_str("| Key | Variable | Default | Description |\n| --- | --- | --- | --- |\n");
            for st in &s.settings {
                let vars: Vec<String> = st
                    .env
                    .iter()
                    .filter(|e| {
                        !e.starts_with(&format!("{ENV_PREFIX}{ENV_SEPARATOR}"))
                            || e.as_str() == SERVICE_TOKEN_ENV
                    })
                    .map(|e| format!("`{e}`"))
                    .collect();
                let mut desc = cell(&st.description);
                if st.list {
                    desc.push_str(if desc.is_empty() {
                        "Comma-separated."
                    } else {
                        " Comma-separated."
                    });
                }
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} | {} |",
                    st.key,
                    vars.join(" or "),
                    default_cell(st),
                    desc
                );
            }
            out.push('\n');
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    }
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn default_cell(s: &Setting) -> String {
    if s.secret {
        return match &s.default {
            Value::String(v) if v.is_empty() => "*(secret, empty)*".into(),
            Value::Null => "*(secret, unset)*".into(),
            _ => "*(secret)*".into(),
        };
    }
    match &s.default {
        Value::Null => "*(unset)*".into(),
        Value::String(v) if v.is_empty() => "*(empty)*".into(),
        Value::String(v) => format!("`{}`", cell(v)),
        Value::Array(a) if a.is_empty() => "*(empty list)*".into(),
        v => format!("`{}`", cell(&v.to_string())),
    }
}

impl Service {
    fn to_json(&self) -> Value {
        let d = &self.depends_on;
        json!({
            "crate": self.name,
            "ports": self.ports,
            "routes": self.routes.iter().map(|r| json!({"method": r.method, "path": r.path})).collect::<Vec<_>>(),
            "sections": self.sections.iter().map(|s| json!({"key": s.key, "description": s.description})).collect::<Vec<_>>(),
            "settings": self.settings.iter().map(|s| {
                let mut m = Map::new();
                m.insert("key".into(), json!(s.key));
                m.insert("default".into(), s.default.clone());
                m.insert("secret".into(), json!(s.secret));
                m.insert("list".into(), json!(s.list));
                m.insert("env".into(), json!(s.env));
                m.insert("description".into(), json!(s.description));
                Value::Object(m)
            }).collect::<Vec<_>>(),
            "depends_on": {
                "services": d.services.iter().map(|c| json!({
                    "service": c.service, "setting": c.setting, "listener": c.listener, "port": c.port,
                })).collect::<Vec<_>>(),
                "postgres": d.postgres.as_ref().map(|p| json!({"setting": p.setting, "database": p.database, "port": p.port})),
                "redis": d.redis.as_ref().map(|r| json!({"setting": r.setting, "port": r.port})),
                "external": d.external.iter().map(|e| json!({"setting": e.setting, "url": e.url})).collect::<Vec<_>>(),
            },
            "types": {
                "settings": self.types.settings,
                "api_doc": self.types.api_doc,
                "build": self.types.build,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const SERVICES: [&str; 8] = [
        "api_cache_proxy",
        "api_updater",
        "create_buy_order",
        "db_proxy",
        "fetch_buy_orders",
        "health_check",
        "lambo_checker",
        "sensor_api",
    ];

    fn by_name<'a>(d: &'a Description, name: &str) -> &'a Service {
        d.services.iter().find(|s| s.name == name).expect(name)
    }

    #[test]
    fn every_service_has_a_port_routes_and_settings_with_variables() {
        let d = describe().unwrap();
        let names: Vec<&str> = d.services.iter().map(|s| s.name).collect();
        assert_eq!(names, SERVICES);
        for s in &d.services {
            assert!(
                s.ports.get("http").is_some_and(|p| *p > 0),
                "{}: no http port",
                s.name
            );
            assert!(!s.routes.is_empty(), "{}: no route", s.name);
            assert!(!s.settings.is_empty(), "{}: no setting", s.name);
            let prefix = format!("DELOS_{}__", s.name.to_ascii_uppercase());
            for st in &s.settings {
                assert!(
                    st.env.iter().any(|e| e.starts_with(&prefix)),
                    "{}: {}",
                    s.name,
                    st.key
                );
            }
            let port = s.settings.iter().find(|st| st.key == "http.port").unwrap();
            assert_eq!(port.env[0], format!("{prefix}HTTP__PORT"));
            assert_eq!(port.env[1], "DELOS__HTTP__PORT");
            assert!(
                s.types.settings.starts_with(&format!("{}::", s.name)),
                "{:?}",
                s.types
            );
        }
        // Ports are the Settings defaults, not a list.
        assert_eq!(
            by_name(&d, "db_proxy").ports["http"],
            db_proxy::Settings::default().http.port
        );
        assert_eq!(by_name(&d, "lambo_checker").ports["grpc"], 50051);
        assert_eq!(d.shutdown_timeout_secs, common::http::SHUTDOWN_TIMEOUT_SECS);
    }

    #[test]
    fn calls_come_from_the_default_urls() {
        let d = describe().unwrap();
        let calls = |name: &str| -> Vec<(&str, String)> {
            by_name(&d, name)
                .depends_on
                .services
                .iter()
                .map(|c| (c.service, c.setting.clone()))
                .collect()
        };
        let cbo = calls("create_buy_order");
        assert!(cbo.contains(&("db_proxy", "db_proxy_url".into())), "{cbo:?}");
        assert!(
            cbo.contains(&("api_cache_proxy", "cache_proxy_url".into())),
            "{cbo:?}"
        );
        assert!(
            cbo.contains(&("health_check", "common.reporter.url".into())),
            "{cbo:?}"
        );
        assert!(calls("health_check").is_empty(), "health_check reports to nobody");
        let db = &by_name(&d, "db_proxy").depends_on;
        assert_eq!(db.postgres.as_ref().unwrap().database, "orders");
        assert!(db.redis.is_none());
        assert!(by_name(&d, "api_cache_proxy").depends_on.redis.is_some());
        assert!(!by_name(&d, "api_updater").depends_on.external.is_empty());
    }

    #[test]
    fn secrets_are_found_and_never_printed_and_docs_become_descriptions() {
        let d = describe().unwrap();
        let lambo = by_name(&d, "lambo_checker");
        let get = |key: &str| lambo.settings.iter().find(|s| s.key == key).expect(key);
        for key in ["api_keys", "common.service_token", "jwt.hs256_secret"] {
            assert!(get(key).secret, "{key}");
            assert_eq!(get(key).default, json!(""), "{key}");
        }
        assert!(!get("grpc.url").secret);
        assert_eq!(get("common.service_token").env[0], "DELOS__SERVICE_TOKEN");
        assert!(get("rate_limit.api_keys").list);
        assert_eq!(get("http.host").description, "Listen address.");
        assert!(get("cache_ttl_secs").description.contains("Redis cache"));
        let json = d.to_json().to_string();
        assert!(!json.contains(PROBE));
        let md = d.to_markdown();
        assert!(
            md.contains("| `http.port` | `DELOS_DB_PROXY__HTTP__PORT` | `8010` |"),
            "{md}"
        );
    }

    #[test]
    fn urls_parse_to_scheme_and_port() {
        assert_eq!(
            url_parts("http://127.0.0.1:8010"),
            Some(("http".into(), Some(8010)))
        );
        assert_eq!(
            url_parts("postgres://u:p@h:5432/db"),
            Some(("postgres".into(), Some(5432)))
        );
        assert_eq!(
            url_parts("https://api.kraken.com/x"),
            Some(("https".into(), None))
        );
        assert_eq!(url_parts("USD"), None);
        assert_eq!(url_parts(""), None);
    }
}
