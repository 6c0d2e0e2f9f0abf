//! GitHub's REST API as the job's token reaches it: curl reads its config
//! (the token, the headers, a JSON body) on stdin, never in argv, and a
//! marker line after the body carries the HTTP status.

use serde_json::Value;
use xshell::{cmd, Shell};

/// The repository's API with the job's token.
pub struct Api {
    token: String,
    /// `{GITHUB_API_URL}/repos/{GITHUB_REPOSITORY}`.
    pub repo: String,
}

impl Api {
    /// From the job's environment (`vars`: GITHUB_TOKEN, GITHUB_REPOSITORY,
    /// GITHUB_API_URL); `no_token` is the one line saying where to set it.
    pub fn from_vars(vars: &dyn Fn(&str) -> Option<String>, no_token: &str) -> Result<Api, String> {
        let token = vars("GITHUB_TOKEN").ok_or_else(|| no_token.to_string())?;
        let repo = vars("GITHUB_REPOSITORY")
            .ok_or_else(|| "GITHUB_REPOSITORY is not set: run this inside a GitHub Actions job".to_string())?;
        let api = vars("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into());
        Ok(Api { token, repo: format!("{}/repos/{repo}", api.trim_end_matches('/')) })
    }

    /// One call: (status, body); the error (curl missing, API unreachable) is one line.
    pub fn call(&self, method: &str, url: &str, body: Option<&Value>) -> Result<(u16, String), String> {
        let sh = Shell::new().map_err(|e| e.to_string())?;
        let mut config = format!(
            "header = \"Authorization: Bearer {}\"\nheader = \"Accept: application/vnd.github+json\"\nheader = \"X-GitHub-Api-Version: 2022-11-28\"\nrequest = {method}\n",
            self.token
        );
        if let Some(b) = body {
            config +=
                &format!("header = \"Content-Type: application/json\"\ndata-binary = {}\n", quoted(&b.to_string()));
        }
        let status_line = "\nXTASK-HTTP-STATUS:%{http_code}";
        let out = cmd!(sh, "curl --silent --show-error --max-time 30 --config - --write-out {status_line} {url}")
            .stdin(config)
            .quiet()
            .ignore_status()
            .output()
            .map_err(|e| format!("cannot run curl to call GitHub's API ({e}): install curl"))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (answer, status) = text.rsplit_once("\nXTASK-HTTP-STATUS:").unwrap_or((&text, "0"));
        match status.trim().parse::<u16>() {
            Ok(code) if code > 0 => Ok((code, answer.to_string())),
            _ => Err(format!("cannot reach GitHub's API at {url}: {}", String::from_utf8_lossy(&out.stderr).trim())),
        }
    }
}

/// A string as curl's config file quotes it.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A fake GitHub API on loopback for the tests: canned answers, one
/// connection each; returns the URL and the requests as sent.
#[cfg(test)]
pub fn serve(answers: Vec<(u16, String)>) -> (String, std::thread::JoinHandle<Vec<String>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for (status, body) in answers {
            let (mut conn, _) = listener.accept().unwrap();
            let (mut request, mut buf) = (Vec::new(), [0u8; 4096]);
            loop {
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length {
                        break;
                    }
                }
                match conn.read(&mut buf).unwrap() {
                    0 => break,
                    n => request.extend_from_slice(&buf[..n]),
                }
            }
            let answer = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            conn.write_all(answer.as_bytes()).unwrap();
            seen.push(String::from_utf8_lossy(&request).into_owned());
        }
        seen
    });
    (url, handle)
}
