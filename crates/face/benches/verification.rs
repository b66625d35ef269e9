//! Latency of one face verification on this machine, stage by stage, and throughput with one
//! analysis per core at once. `cargo bench -p smartauth-face --bench verification`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use smartauth_face::{similarity, FaceEngine};

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn p90(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[(v.len() - 1) * 9 / 10]
}

fn main() {
    let started = Instant::now();
    let engine = Arc::new(FaceEngine::load(&root().join("data/models")).expect("models: run scripts/fetch-data.sh"));
    println!("models loaded and optimized in {} ms\n", started.elapsed().as_millis());
    let faces = root().join("data/test-fixtures/faces");
    let enrolled = engine.analyze_bytes(&std::fs::read(faces.join("fr_obama.jpg")).unwrap()).unwrap().unwrap();
    let selfie = std::fs::read(faces.join("fr_obama2.jpg")).unwrap();

    let runs = 40;
    let (mut decode, mut detect, mut quality, mut embed, mut live, mut total) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        let t = Instant::now();
        let a = engine.analyze_bytes(&selfie).unwrap().unwrap();
        let s = similarity(&a.embedding, &enrolled.embedding);
        std::hint::black_box(s);
        total.push(t.elapsed().as_secs_f64() * 1000.0);
        decode.push(a.timings.decode);
        detect.push(a.timings.detect);
        quality.push(a.timings.quality);
        embed.push(a.timings.embed);
        live.push(a.timings.liveness);
    }
    println!("one verification of a 626x1200 JPEG selfie, {runs} runs, one thread:\n");
    println!("| stage | median | p90 |\n|---|---|---|");
    for (name, v) in [
        ("decode (JPEG, EXIF)", &mut decode),
        ("detect (RetinaFace at 640x640)", &mut detect),
        ("quality (pose, eyes, light, blur)", &mut quality),
        ("align + embed", &mut embed),
        ("liveness", &mut live),
        ("total, compare included", &mut total),
    ] {
        println!("| {name} | {:.1} ms | {:.1} ms |", median(v), p90(v));
    }

    let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
    for threads in [1, cores] {
        let per_thread = 15;
        let t = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                let (engine, selfie) = (engine.clone(), &selfie);
                scope.spawn(move || {
                    for _ in 0..per_thread {
                        std::hint::black_box(engine.analyze_bytes(selfie).unwrap().unwrap());
                    }
                });
            }
        });
        let secs = t.elapsed().as_secs_f64();
        println!("\n{threads} thread(s): {:.1} verifications/s", (threads * per_thread) as f64 / secs);
    }
}
