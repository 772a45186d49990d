//! Client subcommands that talk to a running `keel serve` over its REST API.

use std::path::PathBuf;

use anyhow::{Context, anyhow};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::input::UsageError;

/// `println!` that ends the process quietly when the reader has gone (`keel svc
/// list | head`) instead of panicking on the broken pipe.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

#[derive(Args, Debug, Clone)]
pub struct Conn {
    /// Controller URL.
    #[arg(
        long,
        env = "KEEL_SERVER",
        default_value = "http://127.0.0.1:7480",
        global = true
    )]
    pub server: String,
    /// Bearer token [default: $KEEL_TOKEN, else the admin token in the default
    /// data directory].
    #[arg(long, env = "KEEL_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Print the server's JSON instead of a summary.
    #[arg(long, global = true)]
    pub json: bool,
}

impl Conn {
    fn token(&self) -> anyhow::Result<String> {
        if let Some(t) = &self.token {
            return Ok(t.clone());
        }
        let file = super::serve::default_data_dir().join("admin.token");
        let t = std::fs::read_to_string(&file).map_err(|e| {
            UsageError(format!(
                "no token: give --token or KEEL_TOKEN (cannot read {}: {e})",
                file.display()
            ))
        })?;
        Ok(t.trim().to_string())
    }

    /// Sends a request and returns the JSON reply; API errors become messages.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let url = format!("{}{path}", self.server.trim_end_matches('/'));
        let auth = format!("Bearer {}", self.token()?);
        let sent = match (method, body) {
            ("GET", _) => agent.get(&url).header("Authorization", &auth).call(),
            ("DELETE", _) => agent.delete(&url).header("Authorization", &auth).call(),
            ("POST", b) => agent
                .post(&url)
                .header("Authorization", &auth)
                .send_json(b.cloned().unwrap_or(json!({}))),
            ("PUT", b) => agent
                .put(&url)
                .header("Authorization", &auth)
                .send_json(b.cloned().unwrap_or(json!({}))),
            _ => return Err(anyhow!("unsupported method {method}")),
        };
        let mut resp =
            sent.with_context(|| format!("cannot reach the controller at {}", self.server))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .context("reading the reply")?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status >= 400 {
            let msg = value["error"]["message"]
                .as_str()
                .unwrap_or("request failed");
            let details = &value["error"]["details"];
            let extra = if details.is_null() {
                String::new()
            } else {
                format!(
                    "\n{}",
                    serde_json::to_string_pretty(details).unwrap_or_default()
                )
            };
            return Err(anyhow!("{status}: {msg}{extra}"));
        }
        Ok(value)
    }
}

/// Percent-encodes an identifier for use as one URL path segment (link ids such
/// as `NYCM->CHIN` carry characters a URL cannot).
fn seg(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn print(v: &Value) {
    out!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn gbps(v: &Value) -> String {
    v.as_f64()
        .map_or("-".into(), |b| format!("{:.3} Gbit/s", b / 1e9))
}

/// Show the controller's state.
pub fn status(conn: Conn) -> anyhow::Result<()> {
    let s = conn.call("GET", "/api/v1/status", None)?;
    if conn.json {
        print(&s);
        return Ok(());
    }
    out!(
        "controller  {}  (you: {} as {})",
        conn.server,
        s["you"]["name"].as_str().unwrap_or("?"),
        s["you"]["role"].as_str().unwrap_or("?")
    );
    out!(
        "topology    {} v{} — {} sites, {} links",
        s["topology"]["name"].as_str().unwrap_or("?"),
        s["topology"]["version"],
        s["topology"]["sites"],
        s["topology"]["links"]
    );
    out!("services    {}", s["services"]);
    if let Some(a) = s.get("allocation").filter(|a| !a.is_null()) {
        let f = &a["figures"];
        out!(
            "allocation  v{} ({}): carried {} of {}, solver {}, gap {:.4}%",
            a["version"],
            a["cause"].as_str().unwrap_or(""),
            gbps(&f["carried_bps"]),
            gbps(&f["demand_bps"]),
            f["solver"].as_str().unwrap_or("?"),
            f["gap"].as_f64().unwrap_or(f64::NAN) * 100.0
        );
    }
    for key in ["links_down", "links_drained"] {
        if let Some(l) = s[key].as_array().filter(|l| !l.is_empty()) {
            let names: Vec<&str> = l.iter().filter_map(Value::as_str).collect();
            out!("{:<11} {}", key.replace('_', " "), names.join(", "));
        }
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum Svc {
    /// Order a service; admission control answers at once.
    Add(Box<SvcAdd>),
    /// List the services you can see.
    List,
    /// A service with its allocation (paths, segments, why).
    Show { id: String },
    /// Remove a service.
    Rm { id: String },
}

#[derive(Args, Debug)]
pub struct SvcAdd {
    /// A JSON service spec (as in the API) instead of the flags below.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["kind", "endpoints", "class", "rate"])]
    pub file: Option<PathBuf>,
    /// internet, intranet or vpn.
    #[arg(long)]
    pub kind: Option<String>,
    /// An endpoint site, optionally with prefixes: SITE or SITE=PFX[,PFX...]; repeat.
    #[arg(long = "endpoint", value_name = "SITE[=PREFIXES]")]
    pub endpoints: Vec<String>,
    /// Class of service (voice, video, interactive, business, bulk, best-effort).
    #[arg(long)]
    pub class: Option<String>,
    /// Committed rate per pair, e.g. 2G.
    #[arg(long)]
    pub rate: Option<String>,
    #[arg(long)]
    pub latency_ms: Option<f64>,
    #[arg(long)]
    pub tenant: Option<String>,
    #[arg(long)]
    pub id: Option<String>,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long = "avoid-site")]
    pub avoid_sites: Vec<String>,
    #[arg(long = "avoid-srlg")]
    pub avoid_srlgs: Vec<String>,
    /// Carry each pair over link-disjoint paths.
    #[arg(long)]
    pub disjoint: bool,
}

pub fn svc(conn: Conn, cmd: Svc) -> anyhow::Result<()> {
    match cmd {
        Svc::Add(a) => {
            let spec = match &a.file {
                Some(f) => {
                    let text = std::fs::read_to_string(f)
                        .with_context(|| format!("cannot read {}", f.display()))?;
                    serde_json::from_str(&text)
                        .map_err(|e| UsageError(format!("{}: {e}", f.display())))?
                }
                None => spec_from_flags(&a)?,
            };
            let out = conn.call("POST", "/api/v1/services", Some(&spec))?;
            if conn.json {
                print(&out);
            } else {
                out!("admitted {}", out["service"]["id"].as_str().unwrap_or("?"));
            }
        }
        Svc::List => {
            let list = conn.call("GET", "/api/v1/services", None)?;
            if conn.json {
                print(&list);
                return Ok(());
            }
            out!(
                "{:<14} {:<12} {:<9} {:<12} {:>16} {:>16}  endpoints",
                "id",
                "tenant",
                "kind",
                "class",
                "committed",
                "carried"
            );
            for s in list.as_array().into_iter().flatten() {
                let eps: Vec<&str> = s["endpoints"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e["site"].as_str())
                    .collect();
                out!(
                    "{:<14} {:<12} {:<9} {:<12} {:>16} {:>16}  {} ({})",
                    s["id"].as_str().unwrap_or("?"),
                    s["tenant"].as_str().unwrap_or("?"),
                    s["kind"].as_str().unwrap_or("?"),
                    s["class"].as_str().unwrap_or("?"),
                    gbps(&s["committed_bps"]),
                    gbps(&s["carried_bps"]),
                    eps.join(" "),
                    s["status"].as_str().unwrap_or("?"),
                );
            }
        }
        Svc::Show { id } => {
            let s = conn.call("GET", &format!("/api/v1/services/{}", seg(&id)), None)?;
            let a = conn.call(
                "GET",
                &format!("/api/v1/services/{}/allocation", seg(&id)),
                None,
            )?;
            if conn.json {
                print(&json!({ "service": s, "allocation": a }));
                return Ok(());
            }
            out!(
                "{id}: {} {} service of {}, {} per pair, {}",
                s["class"].as_str().unwrap_or("?"),
                s["kind"].as_str().unwrap_or("?"),
                s["tenant"].as_str().unwrap_or("?"),
                gbps(&s["committed_bps"]),
                s["status"].as_str().unwrap_or("?")
            );
            for f in a["flows"].as_array().into_iter().flatten() {
                out!(
                    "  {} -> {}: {} of {}",
                    f["src"].as_str().unwrap_or("?"),
                    f["dst"].as_str().unwrap_or("?"),
                    gbps(&f["carried_bps"]),
                    gbps(&f["rate_bps"])
                );
                for p in f["paths"].as_array().into_iter().flatten() {
                    let sites: Vec<&str> = p["sites"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect();
                    let segs: Vec<&str> = p["segments"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect();
                    out!(
                        "    {:>16}  {:>7.2} ms  {}\n      segments [{}]\n      why: {}",
                        gbps(&p["rate_bps"]),
                        p["latency_ms"].as_f64().unwrap_or(f64::NAN),
                        sites.join(" > "),
                        segs.join(", "),
                        p["why"].as_str().unwrap_or("")
                    );
                }
            }
        }
        Svc::Rm { id } => {
            conn.call("DELETE", &format!("/api/v1/services/{}", seg(&id)), None)?;
            out!("removed {id}");
        }
    }
    Ok(())
}

fn spec_from_flags(a: &SvcAdd) -> anyhow::Result<Value> {
    let need = |v: &Option<String>, flag: &str| {
        v.clone()
            .ok_or_else(|| UsageError(format!("--{flag} is required (or give --file)")))
    };
    let endpoints: Vec<Value> = a
        .endpoints
        .iter()
        .map(|e| match e.split_once('=') {
            Some((site, pfx)) => {
                json!({ "site": site, "prefixes": pfx.split(',').collect::<Vec<_>>() })
            }
            None => json!({ "site": e }),
        })
        .collect();
    let mut spec = json!({
        "kind": need(&a.kind, "kind")?,
        "endpoints": endpoints,
        "class": need(&a.class, "class")?,
        "rate": need(&a.rate, "rate")?,
        "disjoint": a.disjoint,
    });
    let opt = |v: &Option<String>| v.as_ref().map(|s| json!(s));
    for (k, v) in [
        ("tenant", opt(&a.tenant)),
        ("id", opt(&a.id)),
        ("name", opt(&a.name)),
        ("latency_ms", a.latency_ms.map(|l| json!(l))),
    ] {
        if let Some(v) = v {
            spec[k] = v;
        }
    }
    if !a.avoid_sites.is_empty() {
        spec["avoid_sites"] = json!(a.avoid_sites);
    }
    if !a.avoid_srlgs.is_empty() {
        spec["avoid_srlgs"] = json!(a.avoid_srlgs);
    }
    Ok(spec)
}

#[derive(Subcommand, Debug)]
pub enum Link {
    /// Links with state and load.
    List,
    /// Drain a link for maintenance: traffic moves off at once.
    Drain { link: String },
    /// Return a drained link to service.
    Undrain { link: String },
    /// Cut a link in the simulated network.
    Fail { link: String },
    /// Restore a link in the simulated network.
    Restore { link: String },
}

pub fn link(conn: Conn, cmd: Link) -> anyhow::Result<()> {
    let (path, verb) = match &cmd {
        Link::List => {
            let links = conn.call("GET", "/api/v1/links", None)?;
            if conn.json {
                print(&links);
                return Ok(());
            }
            out!(
                "{:<24} {:<8} {:>16} {:>16} {:>8}",
                "link",
                "state",
                "capacity",
                "planned",
                "util"
            );
            for l in links.as_array().into_iter().flatten() {
                let state = match (l["up"].as_bool(), l["drained"].as_bool()) {
                    (Some(false), _) => "down",
                    (_, Some(true)) => "drained",
                    _ => "up",
                };
                out!(
                    "{:<24} {:<8} {:>16} {:>16} {:>8}",
                    l["id"].as_str().unwrap_or("?"),
                    state,
                    gbps(&l["capacity_bps"]),
                    gbps(&l["planned_bps"]),
                    l["utilisation"]
                        .as_f64()
                        .map_or("-".into(), |u| format!("{:.1}%", u * 100.0))
                );
            }
            return Ok(());
        }
        Link::Drain { link } => (format!("/api/v1/links/{}/drain", seg(link)), "drained"),
        Link::Undrain { link } => (format!("/api/v1/links/{}/undrain", seg(link)), "undrained"),
        Link::Fail { link } => (format!("/api/v1/sim/links/{}/fail", seg(link)), "failed"),
        Link::Restore { link } => (
            format!("/api/v1/sim/links/{}/restore", seg(link)),
            "restored",
        ),
    };
    let out = conn.call("POST", &path, None)?;
    if conn.json {
        print(&out);
    } else {
        out!("{} {verb}", out["link"].as_str().unwrap_or("?"));
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum Token {
    /// Create a token (admin only); its secret is printed once.
    Create {
        #[arg(long)]
        name: String,
        /// admin, operator, tenant or viewer.
        #[arg(long)]
        role: String,
        /// The tenant of a tenant token.
        #[arg(long)]
        tenant: Option<String>,
    },
}

pub fn token(conn: Conn, cmd: Token) -> anyhow::Result<()> {
    let Token::Create { name, role, tenant } = cmd;
    let mut body = json!({ "name": name, "role": role });
    if let Some(t) = tenant {
        body["tenant"] = json!(t);
    }
    let out = conn.call("POST", "/api/v1/tokens", Some(&body))?;
    if conn.json {
        print(&out);
    } else {
        out!("{}", out["token"].as_str().unwrap_or("?"));
    }
    Ok(())
}
