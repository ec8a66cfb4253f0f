//! Test support: the local AWS emulator (tests/emulator) for Rust integration tests.
//!
//! [`emulator()`] starts one emulator per test binary (or uses `EMULATOR_ENDPOINT`), and
//! [`Emulator::exclusive`] hands each test the emulator reset and to itself.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde_json::{json, Value};

pub struct Emulator {
    pub endpoint: String,
    // Held, never read: when the test process ends, the pipe closes and the emulator exits.
    _process: Option<(Child, ChildStdin)>,
    turn: tokio::sync::Mutex<()>,
}

static EMULATOR: OnceLock<Emulator> = OnceLock::new();

/// The emulator for this test binary, started on first use.
pub fn emulator() -> &'static Emulator {
    EMULATOR.get_or_init(|| match std::env::var("EMULATOR_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => Emulator::attach(endpoint, None),
        _ => Emulator::spawn(),
    })
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

impl Emulator {
    fn spawn() -> Self {
        let python = std::env::var("EMULATOR_PYTHON").map(PathBuf::from).unwrap_or_else(|_| repo_root().join(".venv/bin/python"));
        let mut child = Command::new(&python)
            .args(["-m", "emulator", "--port", "0", "--exit-with-stdin"])
            .current_dir(repo_root().join("tests/emulator"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the emulator with {}: {e}. Run ./scripts/test, which installs it", python.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("the emulator prints its endpoint");
        let endpoint =
            line.trim().strip_prefix("EMULATOR_ENDPOINT=").unwrap_or_else(|| panic!("unexpected emulator output: {line}")).to_owned();
        let stdin = child.stdin.take().expect("piped stdin");
        Self::attach(endpoint, Some((child, stdin)))
    }

    fn attach(endpoint: String, process: Option<(Child, ChildStdin)>) -> Self {
        let emulator = Emulator { endpoint, _process: process, turn: tokio::sync::Mutex::new(()) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while emulator.try_get("/health").is_err() {
            assert!(Instant::now() < deadline, "the emulator at {} does not answer", emulator.endpoint);
            std::thread::sleep(Duration::from_millis(100));
        }
        emulator
    }

    /// Waits for the other tests of this binary, then resets the emulator: tests share one
    /// emulator but never its state.
    pub async fn exclusive(&self) -> tokio::sync::MutexGuard<'_, ()> {
        let guard = self.turn.lock().await;
        self.post("/reset", json!({}));
        guard
    }

    /// SDK configuration pointing every client at the emulator, with fast retries.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .http_client(shared::aws::http_client())
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(aws_sdk_autoscaling::config::Credentials::new("AKIDINTEGRATION", "secret", None, None, "tests"))
            .retry_config(shared::testing::fast_retries())
            .load()
            .await
    }

    fn try_get(&self, path: &str) -> Result<Value, ureq::Error> {
        ureq::get(format!("{}/_emulator{path}", self.endpoint)).call()?.body_mut().read_json()
    }

    pub fn get(&self, path: &str) -> Value {
        self.try_get(path).unwrap_or_else(|e| panic!("GET /_emulator{path}: {e}"))
    }

    pub fn post(&self, path: &str, body: Value) -> Value {
        ureq::post(format!("{}/_emulator{path}", self.endpoint))
            .send_json(&body)
            .and_then(|mut r| r.body_mut().read_json())
            .unwrap_or_else(|e| panic!("POST /_emulator{path}: {e}"))
    }

    /// Removes every injected fault.
    pub fn clear_faults(&self) {
        ureq::delete(format!("{}/_emulator/faults", self.endpoint)).call().unwrap_or_else(|e| panic!("DELETE /_emulator/faults: {e}"));
    }

    /// Advances the emulator clock until refreshes finish or wait on a lifecycle action.
    pub fn settle(&self) {
        self.post("/settle", json!({"maxSeconds": 7200}));
    }

    /// Lifecycle actions not yet completed.
    pub fn pending_lifecycle_actions(&self) -> Vec<Value> {
        let all = self.get("/lifecycle-actions");
        all.as_array().expect("a list").iter().filter(|a| a["Result"].is_null()).cloned().collect()
    }
}

/// A launch template named `name` (ami-12c6146b, t3.micro) tagging instances with `instance_tags`.
pub async fn launch_template(ec2: &aws_sdk_ec2::Client, name: &str, instance_tags: &[(&str, &str)]) -> String {
    use aws_sdk_ec2::types::{InstanceType, LaunchTemplateTagSpecificationRequest, RequestLaunchTemplateData, ResourceType, Tag};
    let tags = LaunchTemplateTagSpecificationRequest::builder()
        .resource_type(ResourceType::Instance)
        .set_tags(Some(instance_tags.iter().map(|(k, v)| Tag::builder().key(*k).value(*v).build()).collect()))
        .build();
    let data = RequestLaunchTemplateData::builder()
        .image_id("ami-12c6146b")
        .instance_type(InstanceType::T3Micro)
        .set_tag_specifications((!instance_tags.is_empty()).then(|| vec![tags]))
        .build();
    let out = ec2.create_launch_template().launch_template_name(name).launch_template_data(data).send().await.expect("launch template");
    out.launch_template().and_then(|t| t.launch_template_id()).expect("template id").to_owned()
}

/// A launching lifecycle hook named `health` on `group`.
pub async fn launching_hook(autoscaling: &aws_sdk_autoscaling::Client, group: &str, heartbeat_timeout: i32, default_result: &str) {
    autoscaling
        .put_lifecycle_hook()
        .auto_scaling_group_name(group)
        .lifecycle_hook_name("health")
        .lifecycle_transition("autoscaling:EC2_INSTANCE_LAUNCHING")
        .heartbeat_timeout(heartbeat_timeout)
        .default_result(default_result)
        .send()
        .await
        .expect("lifecycle hook");
}
