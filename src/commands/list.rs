//! `gen list`.

pub fn print() {
    println!("Models (model.family):");
    for m in crate::registry::MODELS {
        println!("  {:<14} {}", m.name, m.about);
    }
    println!("\nDatasets (data.name):");
    for (name, about) in gen_data::DATASETS {
        println!("  {name:<14} {about}");
    }
}
