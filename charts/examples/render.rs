//! Renders a chart like `helm template CHART [-f values.yaml]...`: `cargo run --example render -- CHART [VALUES...]`.
fn main() {
    let mut args = std::env::args().skip(1);
    let Some(chart) = args.next() else {
        eprintln!("usage: render CHART [VALUES...]");
        std::process::exit(2);
    };
    let opts = charts::TemplateOptions {
        values_files: args.map(Into::into).collect(),
        ..Default::default()
    };
    match charts::template(std::path::Path::new(&chart), &opts) {
        Ok(s) => print!("{s}"),
        Err(e) => {
            eprintln!("Error: {e}");
            std::process::exit(1);
        }
    }
}
