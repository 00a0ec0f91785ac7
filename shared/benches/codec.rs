//! Decoding realistic event frames: what the bridge's stdin thread does for
//! every browser event. `cargo bench -p tabscope-shared --bench codec`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use tabscope_shared::codec::{FrameReader, FrameWriter};
use tabscope_shared::protocol::AgentMsg;

fn event_stream(n: usize) -> Vec<u8> {
    let mut w = FrameWriter::new(Vec::new());
    for i in 0..n {
        let tab = json!({"id":i,"index":i % 50,"windowId":1,"highlighted":false,"active":false,
            "status":"complete","width":1321,"height":626,"groupId":-1,"splitViewId":-1,
            "cookieStoreId":"firefox-default","url":format!("https://example.org/page/{i}"),
            "title":"Example Domain","favIconUrl":"chrome://global/skin/icons/info.svg",
            "type":"content","mailTab":false});
        let msg = json!({"type":"event","seq":i + 1,"time":1_763_700_000_000.0 + i as f64,
            "name":"tabs.onUpdated","args":[i, {"title":"Example Domain"}, tab]});
        w.write_message(&msg).unwrap();
    }
    w.get_ref().clone()
}

fn decode(c: &mut Criterion) {
    let n = 10_000;
    let bytes = event_stream(n);
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("frames/tabs.onUpdated", |b| {
        b.iter(|| {
            let mut r = FrameReader::new(&bytes[..]);
            let mut count = 0;
            while let Some(msg) = r.read_message::<AgentMsg>().unwrap() {
                count += matches!(msg, AgentMsg::Event(_)) as usize;
            }
            assert_eq!(count, n);
        })
    });
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("bytes/tabs.onUpdated", |b| {
        b.iter(|| {
            let mut r = FrameReader::new(&bytes[..]);
            while r.read_message::<AgentMsg>().unwrap().is_some() {}
        })
    });
    g.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
