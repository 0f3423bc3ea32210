//! The pictures of simulated codes (mini-program codes, official-account QR codes): a grey
//! image that looks like a code, nothing reads its pixels, with the data a phone would read
//! carried in PNG text chunks.

/// A 168×168 image drawn from `seed`, with `texts` as (keyword, Latin-1 text) chunks.
pub(crate) fn code_png(seed: &str, texts: &[(&str, &str)]) -> Result<Vec<u8>, png::EncodingError> {
    const MODULES: u32 = 21;
    const SCALE: u32 = 8;
    let side = MODULES * SCALE;
    let seed: Vec<u8> = sha2::Digest::finalize(sha2::Digest::chain_update(
        <sha2::Sha256 as sha2::Digest>::new(),
        seed.as_bytes(),
    ))
    .to_vec();
    let dark = |x: u32, y: u32| {
        let finder = |a: u32, b: u32| {
            a < 7
                && b < 7
                && (a == 0
                    || a == 6
                    || b == 0
                    || b == 6
                    || (2..5).contains(&a) && (2..5).contains(&b))
        };
        if finder(x, y) || finder(MODULES - 1 - x, y) || finder(x, MODULES - 1 - y) {
            return true;
        }
        let bit = (y * MODULES + x) as usize % (seed.len() * 8);
        seed[bit / 8] >> (bit % 8) & 1 == 1
    };
    let mut pixels = Vec::with_capacity((side * side) as usize);
    for py in 0..side {
        for px in 0..side {
            pixels.push(if dark(px / SCALE, py / SCALE) { 0 } else { 255 });
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side, side);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        for (keyword, text) in texts {
            encoder.add_text_chunk((*keyword).to_owned(), (*text).to_owned())?;
        }
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&pixels)?;
    }
    Ok(out)
}

/// The text chunk `keyword` of a PNG, if the bytes are one and carry it.
pub(crate) fn text_of_png(png_bytes: &[u8], keyword: &str) -> Option<String> {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let reader = decoder.read_info().ok()?;
    reader
        .info()
        .uncompressed_latin1_text
        .iter()
        .find(|t| t.keyword == keyword)
        .map(|t| t.text.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_round_trip_and_non_pngs_carry_none() {
        let png = code_png("seed", &[("ticket", "gQ+/=="), ("appid", "wx1")]).unwrap_or_default();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert_eq!(text_of_png(&png, "ticket").as_deref(), Some("gQ+/=="));
        assert_eq!(text_of_png(&png, "scene"), None);
        assert_eq!(text_of_png(b"{\"errcode\":40001}", "ticket"), None);
    }
}
