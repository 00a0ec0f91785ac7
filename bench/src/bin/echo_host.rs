//! A native-messaging host that answers every frame with the same bytes at
//! once: the fastest possible host, so that a tap's own cost shows.

use std::io::{Read, Write};

fn main() {
    let mut input = std::io::stdin().lock();
    let mut output = std::io::stdout().lock();
    let mut buf = Vec::new();
    loop {
        let mut head = [0u8; 4];
        if input.read_exact(&mut head).is_err() {
            return;
        }
        buf.resize(u32::from_ne_bytes(head) as usize, 0);
        if input.read_exact(&mut buf).is_err() {
            return;
        }
        if output.write_all(&head).and_then(|_| output.write_all(&buf)).and_then(|_| output.flush()).is_err()
        {
            return;
        }
    }
}
