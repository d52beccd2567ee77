//! Writes the seed artifacts of `hostile_artifact` (every seed module,
//! compiled with each bounds-check strategy, and a signed one) into the
//! directory given (default `corpus/hostile_artifact`).

#[path = "hostile.rs"]
#[allow(dead_code)]
mod hostile;

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "corpus/hostile_artifact".into());
    std::fs::create_dir_all(&dir).expect("create the corpus directory");
    for seed in hostile::seeds() {
        let path = std::path::Path::new(&dir).join(format!("{}.vwa", seed.name));
        std::fs::write(&path, &seed.bytes).expect("write a seed");
        println!("{}", path.display());
    }
}
