//! Connects to a Unix socket with none of tabscope's client checks and says
//! what the listener did: the tests run it as another user to prove that
//! the bridge itself refuses them, not only the client library.
//! Prints `closed` (EOF before any byte), `data` or `error: ...`.

#[cfg(unix)]
use std::io::Read;
#[cfg(unix)]
use std::os::unix::net::UnixStream;
#[cfg(unix)]
use std::time::Duration;

#[cfg(not(unix))]
fn main() {
    eprintln!("raw-connect: Unix sockets only (the Windows named pipe is issue 17's)");
    std::process::exit(2);
}

#[cfg(unix)]
fn main() {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: raw-connect <socket>");
        std::process::exit(2);
    };
    let verdict = match UnixStream::connect(&path) {
        Err(e) => format!("error: {e}"),
        Ok(mut s) => {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut b = [0u8; 1];
            match s.read(&mut b) {
                Ok(0) => "closed".to_owned(),
                Ok(_) => "data".to_owned(),
                Err(e) => format!("error: {e}"),
            }
        }
    };
    println!("{verdict}");
}
