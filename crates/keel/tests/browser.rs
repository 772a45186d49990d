//! The dashboard in a real headless Chromium, driven over WebDriver against a real
//! `keel serve`. Needs `chromium` and `chromedriver` (Debian: `apt-get install
//! chromium chromium-driver`; CI installs them); without them each test prints
//! `SKIP: ...` and passes. Screenshots of every step go to `target/screenshots/`.

mod common;

use std::future::Future;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::server::{Server, data_dir};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// One browser at a time: the machine running the tests may have two cores.
static BROWSER: Mutex<()> = Mutex::new(());

/// Bounded waits: generous, since a loaded CI machine is slow, and never an
/// assertion on how long something took.
const WAIT: Duration = Duration::from_secs(15);

fn which(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    names.iter().find_map(|n| {
        std::env::split_paths(&path)
            .map(|d| d.join(n))
            .find(|p| p.is_file())
    })
}

/// chromedriver on a free loopback port; killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(bin: &Path) -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a browser test needs, or why it cannot run here.
fn tools() -> Result<(PathBuf, PathBuf), String> {
    let chromium = which(&["chromium", "chromium-browser", "google-chrome"])
        .ok_or("no chromium on PATH (apt-get install chromium)")?;
    let driver = which(&["chromedriver"])
        .ok_or("no chromedriver on PATH (apt-get install chromium-driver)")?;
    Ok((chromium, driver))
}

async fn browser(driver: &Driver, chromium: &Path, profile: &Path) -> Client {
    // The network is closed: without these Chromium waits on outbound
    // connections (updates, sync, QUIC probes).
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1400,900",
    ]
    .map(String::from)
    .into_iter()
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect::<Vec<_>>();
    let caps = json!({ "goog:chromeOptions": { "binary": chromium, "args": args } });
    let caps = match caps {
        Value::Object(m) => m,
        _ => unreachable!("a JSON object"),
    };
    ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session")
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(screenshots().join(format!("{name}.png")), png).expect("write screenshot");
}

/// Polls `probe` until it gives a value; panics after [`WAIT`] naming `what`.
async fn wait<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.expect("script")
}

async fn log_in(c: &Client, token: &str) {
    let field = c.find(Locator::Id("token")).await.expect("token field");
    field.clear().await.expect("clear");
    field.send_keys(token).await.expect("type token");
    c.find(Locator::Id("login-button"))
        .await
        .expect("login button")
        .click()
        .await
        .expect("click log in");
}

/// Links drawn on the map, once the app is shown.
async fn drawn_links(c: &Client) -> Option<u64> {
    let v = js(
        c,
        "return document.getElementById('app').hidden ? null \
         : document.querySelectorAll('#map [data-link]').length",
    )
    .await;
    v.as_u64().filter(|n| *n > 0)
}

fn css_id(attr: &str, id: &str) -> String {
    format!(
        "[{attr}=\"{}\"]",
        id.replace('\\', "\\\\").replace('"', "\\\"")
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn vpn(sites: &[&str]) -> Value {
    json!({ "kind": "vpn", "class": "business", "rate": "1G",
            "endpoints": sites.iter().map(|s| json!({ "site": s })).collect::<Vec<_>>() })
}

#[test]
fn the_dashboard_shows_the_network_and_follows_it_live() {
    let (chromium, driver_bin) = match tools() {
        Ok(t) => t,
        Err(why) => {
            println!("SKIP: browser test: {why}");
            return;
        }
    };
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = data_dir("admin");
    let s = Server::start(&dir);
    let topo = s.admin_get("/api/v1/topology");
    let links: Vec<String> = topo["links"]
        .as_array()
        .expect("links")
        .iter()
        .map(|l| l["id"].as_str().expect("id").to_string())
        .collect();
    let driver = Driver::start(&driver_bin);
    runtime().block_on(async {
        let c = browser(&driver, &chromium, &dir.join("profile")).await;
        c.goto(&format!("{}/", s.url))
            .await
            .expect("open dashboard");
        shot(&c, "01-login").await;

        // A wrong token is refused with a message, and the app stays hidden.
        log_in(&c, "keel_not-a-token").await;
        let error = wait("the login error", || async {
            let e = c.find(Locator::Id("login-error")).await.ok()?;
            Some(e.text().await.ok()?).filter(|t| !t.is_empty())
        })
        .await;
        assert!(error.contains("not valid"), "{error}");
        assert_eq!(
            js(&c, "return document.getElementById('app').hidden").await,
            true
        );
        shot(&c, "02-wrong-token").await;

        // Every link of the topology is on the map.
        log_in(&c, &s.admin).await;
        let drawn = wait("the map", || drawn_links(&c)).await;
        assert_eq!(drawn, links.len() as u64);
        shot(&c, "03-map").await;

        // Clicking a link opens its utilisation plot.
        let picked = &links[0];
        c.find(Locator::Css(&css_id("data-link", picked)))
            .await
            .expect("the link on the map")
            .click()
            .await
            .expect("click the link");
        let points = wait("the utilisation plot", || async {
            let p = c
                .find(Locator::Css("#link-plot polyline.util"))
                .await
                .ok()?;
            p.attr("points").await.ok()?.filter(|p| !p.is_empty())
        })
        .await;
        assert!(points.split(' ').count() >= 1, "{points}");
        let title = c.find(Locator::Id("link-title")).await.expect("title");
        assert_eq!(&title.text().await.expect("text"), picked);
        shot(&c, "04-link-plot").await;

        // The what-if panel predicts the failure of the selected link.
        c.find(Locator::Id("link-whatif"))
            .await
            .expect("what-if button")
            .click()
            .await
            .expect("click what-if");
        let facts = wait("the what-if prediction", || async {
            let e = c.find(Locator::Id("whatif-facts")).await.ok()?;
            Some(e.text().await.ok()?).filter(|t| t.contains("lost"))
        })
        .await;
        assert!(facts.contains("worst utilisation"), "{facts}");
        shot(&c, "05-whatif").await;

        // A failure in the network turns its link red on the map.
        let victim = &links[links.len() / 2];
        let path = format!(
            "/api/v1/sim/links/{}/fail",
            victim.replace('>', "%3E").replace(' ', "%20")
        );
        let (status, v) = s.post(&path, &s.admin, &json!({}));
        assert_eq!(status, 200, "{v}");
        let class = wait("the failed link to turn red", || async {
            let e = c
                .find(Locator::Css(&css_id("data-link", victim)))
                .await
                .ok()?;
            e.attr("class")
                .await
                .ok()?
                .filter(|c| c.split(' ').any(|k| k == "down"))
        })
        .await;
        assert!(class.contains("down"));
        let e = c
            .find(Locator::Css(&css_id("data-link", victim)))
            .await
            .expect("link");
        assert_eq!(
            e.attr("stroke").await.expect("stroke").as_deref(),
            Some("#d32f2f")
        );
        shot(&c, "06-link-down").await;
        let _ = c.close().await;
    });
    drop(driver);
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_tenant_sees_only_its_own_services() {
    let (chromium, driver_bin) = match tools() {
        Ok(t) => t,
        Err(why) => {
            println!("SKIP: browser test: {why}");
            return;
        }
    };
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = data_dir("tenant");
    let s = Server::start(&dir);
    let acme = s.token("acme-portal", "tenant", Some("acme"));
    let globex = s.token("globex-portal", "tenant", Some("globex"));
    let id = |token: &str, sites: &[&str]| {
        let (status, v) = s.post("/api/v1/services", token, &vpn(sites));
        assert_eq!(status, 201, "{v}");
        v["service"]["id"].as_str().expect("id").to_string()
    };
    let mine = id(&acme, &["NYCM", "CHIN"]);
    let theirs = id(&globex, &["LOSA", "SNVA"]);
    let driver = Driver::start(&driver_bin);
    runtime().block_on(async {
        let c = browser(&driver, &chromium, &dir.join("profile")).await;
        c.goto(&format!("{}/", s.url))
            .await
            .expect("open dashboard");
        log_in(&c, &acme).await;
        wait("the map", || drawn_links(&c)).await;
        c.find(Locator::Css("#tabs [data-tab=services-panel]"))
            .await
            .expect("services tab")
            .click()
            .await
            .expect("click services");
        let listed = wait("the service list", || async {
            let v = js(
                &c,
                "return [...document.querySelectorAll('#services tbody tr[data-service]')]\
                 .map(r => r.dataset.service)",
            )
            .await;
            let ids: Vec<String> = serde_json::from_value(v).ok()?;
            (!ids.is_empty()).then_some(ids)
        })
        .await;
        assert_eq!(listed, vec![mine.clone()]);
        let page = c.source().await.expect("page source");
        assert!(page.contains(&mine));
        assert!(!page.contains(&theirs), "the other tenant's service shows");
        assert!(!page.contains("globex"), "the other tenant shows");
        shot(&c, "07-tenant-services").await;
        let _ = c.close().await;
    });
    drop(driver);
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
