//! Corpus program "image": the `image` crate's Rust codecs and image
//! operations on a picture the program draws itself.
//!
//!     image [SIDE]     (default 192)
//!
//! Draws a SIDE x SIDE RGBA picture (gradients, a Mandelbrot set in fixed
//! point, rings, xorshift noise; deterministic), then encodes and decodes
//! it as PNG (fast and best compression, adaptive filters), JPEG (quality
//! 90; decoded by `zune-jpeg`), GIF (NeuQuant palette), lossless WebP, BMP
//! and TGA, and runs a few operations (Lanczos and Catmull-Rom resizes, a
//! Gaussian blur, rotation, grayscale, hue rotation, contrast). Prints each
//! encoded size, FNV-1a hashes of encoded and decoded bytes, and whether
//! the lossless formats gave the picture back exactly.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::imageops::{self, FilterType};
use image::{DynamicImage, ImageEncoder, ImageFormat, Rgba, RgbaImage};

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn draw(side: u32) -> RgbaImage {
    let mut rng: u64 = 0x0DDB_1A5E_5BAD_5EED;
    RgbaImage::from_fn(side, side, |x, y| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let noise = (rng & 15) as i64 - 8;
        // Mandelbrot in 16.16 fixed point over [-2, 1] x [-1.5, 1.5].
        let cx = (x as i64 * 3 << 16) / side as i64 - (2 << 16);
        let cy = (y as i64 * 3 << 16) / side as i64 - (3 << 15);
        let (mut zx, mut zy, mut n) = (0i64, 0i64, 0u32);
        while n < 64 && zx * zx + zy * zy < 4 << 32 {
            let t = ((zx * zx - zy * zy) >> 16) + cx;
            zy = ((2 * zx * zy) >> 16) + cy;
            zx = t;
            n += 1;
        }
        let (dx, dy) = (x as i64 - side as i64 / 3, y as i64 - side as i64 / 2);
        let ring = (((dx * dx + dy * dy) as f64).sqrt() as i64 / 6) % 2 * 60;
        let clamp = |v: i64| v.clamp(0, 255) as u8;
        Rgba([
            clamp((x * 255 / side) as i64 + noise - ring),
            clamp(n as i64 * 4 + noise),
            clamp((y * 255 / side) as i64 + ring + noise),
            clamp(255 - ((x ^ y) & 63) as i64),
        ])
    })
}

fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

fn decode(bytes: &[u8], format: ImageFormat) -> DynamicImage {
    image::load_from_memory_with_format(bytes, format).expect("decode")
}

fn report(name: &str, encoded: &[u8], decoded: &DynamicImage, original: Option<&DynamicImage>) {
    let pixels = decoded.as_bytes();
    print!(
        "{name}: {} bytes, fnv {:016x}; decoded {}x{} {:?}, fnv {:016x}",
        encoded.len(),
        fnv1a(encoded),
        decoded.width(),
        decoded.height(),
        decoded.color(),
        fnv1a(pixels)
    );
    match original {
        Some(original) => println!(", exact {}", original.as_bytes() == pixels),
        None => println!(),
    }
}

/// Mean absolute difference per channel between two RGB images, in 1/1000.
fn distance(a: &DynamicImage, b: &DynamicImage) -> u64 {
    let (a, b) = (a.to_rgb8(), b.to_rgb8());
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&p, &q)| u64::from(p.abs_diff(q)))
        .sum();
    sum * 1000 / a.as_raw().len() as u64
}

fn main() {
    let side: u32 = match std::env::args().nth(1) {
        None => 192,
        Some(arg) => arg.parse().ok().filter(|&s| s >= 8).unwrap_or_else(|| {
            eprintln!("usage: image [SIDE]   (SIDE >= 8)");
            std::process::exit(2)
        }),
    };
    let rgba = DynamicImage::ImageRgba8(draw(side));
    let rgb = DynamicImage::ImageRgb8(rgba.to_rgb8());
    println!(
        "image: {side}x{side}, rgba fnv {:016x}",
        fnv1a(rgba.as_bytes())
    );

    for (name, compression) in [
        ("png-fast", CompressionType::Fast),
        ("png-best", CompressionType::Best),
    ] {
        let mut png = Vec::new();
        PngEncoder::new_with_quality(&mut png, compression, PngFilter::Adaptive)
            .write_image(rgba.as_bytes(), side, side, rgba.color().into())
            .expect("png");
        report(name, &png, &decode(&png, ImageFormat::Png), Some(&rgba));
    }

    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 90)
        .write_image(rgb.as_bytes(), side, side, rgb.color().into())
        .expect("jpeg");
    let decoded = decode(&jpeg, ImageFormat::Jpeg);
    report("jpeg-90", &jpeg, &decoded, None);
    println!("jpeg-90 distance: {}", distance(&rgb, &decoded));

    let gif = encode(&rgba, ImageFormat::Gif);
    let decoded = decode(&gif, ImageFormat::Gif);
    report("gif", &gif, &decoded, None);
    println!("gif distance: {}", distance(&rgb, &decoded));

    let webp = encode(&rgba, ImageFormat::WebP);
    report(
        "webp-lossless",
        &webp,
        &decode(&webp, ImageFormat::WebP),
        Some(&rgba),
    );
    let bmp = encode(&rgb, ImageFormat::Bmp);
    report("bmp", &bmp, &decode(&bmp, ImageFormat::Bmp), Some(&rgb));
    let tga = encode(&rgba, ImageFormat::Tga);
    report("tga", &tga, &decode(&tga, ImageFormat::Tga), Some(&rgba));

    let ops: [(&str, DynamicImage); 7] = [
        (
            "lanczos-half",
            rgba.resize_exact(side / 2, side / 2, FilterType::Lanczos3),
        ),
        (
            "catmull-up",
            rgb.resize(side * 3 / 2, side * 3 / 2, FilterType::CatmullRom),
        ),
        ("blur", rgb.blur(2.5)),
        ("rotate90", rgba.rotate90()),
        ("grayscale", rgb.grayscale()),
        ("huerotate", rgb.huerotate(120)),
        ("contrast", rgb.adjust_contrast(25.0)),
    ];
    for (name, img) in &ops {
        println!(
            "{name}: {}x{} {:?}, fnv {:016x}",
            img.width(),
            img.height(),
            img.color(),
            fnv1a(img.as_bytes())
        );
    }
    let mut canvas = rgba.to_rgba8();
    let thumb = imageops::thumbnail(&canvas, side / 4, side / 4);
    imageops::overlay(&mut canvas, &thumb, (side / 8) as i64, (side / 8) as i64);
    imageops::flip_horizontal_in_place(&mut canvas);
    println!("overlay: fnv {:016x}", fnv1a(canvas.as_raw()));
}
