//! A small SMTP server on 127.0.0.1 for the tests: it speaks enough of RFC 5321 for
//! lettre (greeting, EHLO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT), answers
//! RCPT with the reply it is given, and keeps a transcript. Each connection is its own
//! task; the server stops with the test's runtime.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Clone)]
pub struct Replies {
    /// The reply to each RCPT TO (`250 ok`, `451 ...`, `550 ...`).
    pub rcpt: &'static str,
    /// Whether EHLO offers AUTH PLAIN.
    pub auth: bool,
}

impl Default for Replies {
    fn default() -> Self {
        Replies {
            rcpt: "250 2.1.5 ok",
            auth: false,
        }
    }
}

pub struct FakeSmtp {
    pub addr: SocketAddr,
    /// Every command line received, in order (DATA's content is in `messages`).
    pub commands: Arc<Mutex<Vec<String>>>,
    /// The content of each DATA, dot-unstuffed, with its final CRLF.
    pub messages: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl FakeSmtp {
    pub async fn start(replies: Replies) -> FakeSmtp {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let commands = Arc::new(Mutex::new(Vec::new()));
        let messages = Arc::new(Mutex::new(Vec::new()));
        let (c, m) = (commands.clone(), messages.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (c, m, r) = (c.clone(), m.clone(), replies.clone());
                tokio::spawn(async move {
                    let _ = session(stream, r, c, m).await;
                });
            }
        });
        FakeSmtp {
            addr,
            commands,
            messages,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub fn commands(&self) -> Vec<String> {
        self.commands.lock().unwrap().clone()
    }

    pub fn messages(&self) -> Vec<Vec<u8>> {
        self.messages.lock().unwrap().clone()
    }
}

async fn session(
    stream: tokio::net::TcpStream,
    replies: Replies,
    commands: Arc<Mutex<Vec<String>>>,
    messages: Arc<Mutex<Vec<Vec<u8>>>>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    write.write_all(b"220 fake.test ESMTP\r\n").await?;
    let mut line = String::new();
    loop {
        line.clear();
        if read.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_string();
        commands.lock().unwrap().push(command.clone());
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: String = match verb.as_str() {
            "EHLO" => {
                let auth = if replies.auth {
                    "250-AUTH PLAIN\r\n"
                } else {
                    ""
                };
                format!("250-fake.test\r\n{auth}250 8BITMIME\r\n")
            }
            "HELO" | "MAIL" | "RSET" | "NOOP" => "250 2.0.0 ok\r\n".into(),
            "AUTH" => "235 2.7.0 authenticated\r\n".into(),
            "RCPT" => format!("{}\r\n", replies.rcpt),
            "DATA" => {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut data = Vec::new();
                loop {
                    let mut l = Vec::new();
                    if read.read_until(b'\n', &mut l).await? == 0 {
                        return Ok(());
                    }
                    if l == b".\r\n" {
                        break;
                    }
                    let unstuffed = if l.starts_with(b"..") {
                        &l[1..]
                    } else {
                        &l[..]
                    };
                    data.extend_from_slice(unstuffed);
                }
                messages.lock().unwrap().push(data);
                "250 2.0.0 queued as 1234\r\n".into()
            }
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => "502 5.5.2 unknown command\r\n".into(),
        };
        write.write_all(reply.as_bytes()).await?;
    }
}
