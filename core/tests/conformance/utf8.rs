//! UTF-8 (Autobahn 6): valid text however it is cut, invalid text failed
//! with 1007 as soon as it cannot become valid.

use crate::harness::*;

const VALID_TEXTS: [&str; 8] = [
    "Hello-µ@ßöäüàá-UTF-8!!",
    "κόσμε",
    "\u{0}\u{7f}\u{80}\u{7ff}\u{800}\u{d7ff}\u{e000}\u{fffd}\u{fffe}\u{ffff}\u{10000}\u{10ffff}",
    "日本語のテキスト",
    "😀🎉🦀",
    "\u{feff}BOM",
    "a\u{0}b",
    "",
];

#[test]
fn utf8_valid_texts_in_one_frame() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        for text in VALID_TEXTS {
            let frame = p.frame(FIN | TEXT, text.as_bytes());
            p.feed(&frame);
            let frame = p.frame(FIN | TEXT, text.as_bytes());
            p.feed_bytewise(&frame);
            let event = Event::Text(text.into());
            p.expect(&[event.clone(), event], &[], &format!("{role:?} {text:?}"));
        }
    }
}

#[test]
fn utf8_valid_texts_in_every_two_fragment_split() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        for text in VALID_TEXTS {
            for cut in 0..=text.len() {
                let frames = fragments(&mut p, TEXT, text.as_bytes(), &[cut, 0]);
                p.feed(&frames);
                p.expect(&[Event::Text(text.into())], &[], &format!("{role:?} {text:?} cut {cut}"));
            }
        }
    }
}

#[test]
fn utf8_valid_texts_in_one_byte_fragments() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        for text in VALID_TEXTS {
            let sizes = vec![1; text.len().max(1)];
            let frames = fragments(&mut p, TEXT, text.as_bytes(), &sizes);
            p.feed_bytewise(&frames);
            p.expect(&[Event::Text(text.into())], &[], &format!("{role:?} {text:?}"));
        }
    }
}

#[test]
fn utf8_character_split_across_frames_succeeds() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        for c in ['µ', '€', '😀', '\u{10ffff}', '\u{800}'] {
            let text = format!("a{c}b");
            let bytes = text.as_bytes();
            // Every way of cutting the character into up to three frames.
            for i in 1..bytes.len() {
                for j in i..bytes.len() {
                    let frames = [
                        p.frame(TEXT, &bytes[..i]),
                        p.frame(CONT, &bytes[i..j]),
                        p.frame(FIN | CONT, &bytes[j..]),
                    ]
                    .concat();
                    p.feed(&frames);
                    p.expect(&[Event::Text(text.clone())], &[], &format!("{role:?} {c:?} cuts {i} {j}"));
                }
            }
        }
    }
}

/// Invalid UTF-8, after the families of Autobahn's 6.x cases.
const INVALID_UTF8: [(&str, &[u8]); 36] = [
    ("surrogate inside text (6.3)", b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"),
    ("5-byte sequence", b"\xf8\x88\x80\x80\x80"),
    ("6-byte sequence", b"\xfc\x84\x80\x80\x80\x80"),
    ("first code point above U+10FFFF", b"\xf4\x90\x80\x80"),
    ("largest 4-byte pattern", b"\xf7\xbf\xbf\xbf"),
    ("lead byte F5", b"\xf5\x80\x80\x80"),
    ("lone continuation 0x80", b"\x80"),
    ("lone continuation 0xBF", b"\xbf"),
    ("continuations after text", b"ab\x80\xbf"),
    ("all 64 continuation bytes", b"\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95\x96\x97\x98\x99\x9a\x9b\x9c\x9d\x9e\x9f\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9\xaa\xab\xac\xad\xae\xaf\xb0\xb1\xb2\xb3\xb4\xb5\xb6\xb7\xb8\xb9\xba\xbb\xbc\xbd\xbe\xbf"),
    ("lonely 2-byte start then space", b"\xc0 \xc1 \xc2 \xdf "),
    ("lonely 3-byte start then space", b"\xe0 \xef "),
    ("lonely 4-byte start then space", b"\xf0 \xf4 "),
    ("2-byte sequence missing its last byte", b"\xdf"),
    ("3-byte sequence missing its last byte", b"\xef\xbf"),
    ("4-byte sequence missing its last byte", b"\xf4\x8f\xbf"),
    ("truncated at message end after text", b"abc\xe2\x82"),
    ("concatenated incomplete sequences", b"\xc0\xe0\x80\xf0\x80\x80\xdf\xef\xbf"),
    ("impossible byte FE", b"\xfe"),
    ("impossible byte FF", b"\xff"),
    ("impossible bytes FEFEFFFF", b"\xfe\xfe\xff\xff"),
    ("overlong slash, 2 bytes", b"\xc0\xaf"),
    ("overlong slash, 3 bytes", b"\xe0\x80\xaf"),
    ("overlong slash, 4 bytes", b"\xf0\x80\x80\xaf"),
    ("maximum overlong, 2 bytes", b"\xc1\xbf"),
    ("maximum overlong, 3 bytes", b"\xe0\x9f\xbf"),
    ("maximum overlong, 4 bytes", b"\xf0\x8f\xbf\xbf"),
    ("overlong NUL, 2 bytes", b"\xc0\x80"),
    ("overlong NUL, 3 bytes", b"\xe0\x80\x80"),
    ("single surrogate U+D800", b"\xed\xa0\x80"),
    ("single surrogate U+DB7F", b"\xed\xad\xbf"),
    ("single surrogate U+DC00", b"\xed\xb0\x80"),
    ("single surrogate U+DFFF", b"\xed\xbf\xbf"),
    ("paired surrogates U+D800 U+DC00", b"\xed\xa0\x80\xed\xb0\x80"),
    ("paired surrogates U+DBFF U+DFFF", b"\xed\xaf\xbf\xed\xbf\xbf"),
    ("surrogate after valid 4-byte", b"\xf0\x9f\x98\x80\xed\xa0\x80"),
];

#[test]
fn utf8_invalid_in_one_frame_fails_1007() {
    for role in ROLES {
        for (name, bytes) in INVALID_UTF8 {
            for bytewise in [false, true] {
                let mut p = Peer::open(role, rfc6455());
                let frame = p.frame(FIN | TEXT, bytes);
                if bytewise {
                    p.feed_bytewise(&frame);
                } else {
                    p.feed(&frame);
                }
                let error = protocol(ProtocolError::InvalidUtf8);
                p.expect_failure(&[], &[], error, 1007, &format!("{role:?} {name} bytewise {bytewise}"));
            }
        }
    }
}

#[test]
fn utf8_invalid_in_one_byte_fragments_fails_1007() {
    for role in ROLES {
        for (name, bytes) in INVALID_UTF8 {
            let mut p = Peer::open(role, rfc6455());
            let frames = fragments(&mut p, TEXT, bytes, &vec![1; bytes.len()]);
            p.feed(&frames);
            let error = protocol(ProtocolError::InvalidUtf8);
            p.expect_failure(&[], &[], error, 1007, &format!("{role:?} {name}"));
        }
    }
}

#[test]
fn utf8_fail_fast_in_first_fragment() {
    // The first fragment alone is already invalid: the connection fails
    // before the final fragment exists (Autobahn 6.4.1).
    for role in ROLES {
        for (name, bytes) in INVALID_UTF8 {
            // Sequences that are only incomplete cannot fail before the end.
            if name.contains("missing") || name.contains("truncated") || name.contains("concatenated") {
                continue;
            }
            let mut p = Peer::open(role, rfc6455());
            let frame = p.frame(TEXT, bytes);
            p.feed(&frame);
            let error = protocol(ProtocolError::InvalidUtf8);
            p.expect_failure(&[], &[], error, 1007, &format!("{role:?} {name}"));
        }
    }
}

#[test]
fn utf8_fail_fast_autobahn_6_4() {
    let kosme = "κόσμε".as_bytes();
    for role in ROLES {
        // 6.4.1: valid fragment, invalid fragment (not final): fails on it.
        let mut p = Peer::open(role, rfc6455());
        let frames = [p.frame(TEXT, kosme), p.frame(CONT, b"\xf4\x90\x80\x80")].concat();
        p.feed(&frames);
        let error = protocol(ProtocolError::InvalidUtf8);
        p.expect_failure(&[], &[], error.clone(), 1007, &format!("{role:?} 6.4.1"));

        // 6.4.2: the bad byte starts a fragment after a valid lead byte.
        let mut p = Peer::open(role, rfc6455());
        let frames = [p.frame(TEXT, &[kosme, b"\xf4"].concat()), p.frame(CONT, b"\x90\x80\x80")].concat();
        p.feed(&frames);
        p.expect_failure(&[], &[], error.clone(), 1007, &format!("{role:?} 6.4.2"));

        // 6.4.3/6.4.4: one frame, delivered up to the bad byte only.
        for prefix in [&b"\xf4\x90"[..], b"\xf4\x90\x80\x80edited"] {
            let mut p = Peer::open(role, rfc6455());
            let payload = [kosme, b"\xf4\x90\x80\x80edited"].concat();
            let frame = p.frame(FIN | TEXT, &payload);
            let header_len = frame.len() - payload.len();
            let upto = header_len + kosme.len() + prefix.len().min(2);
            p.feed(&frame[..upto]);
            p.expect_failure(&[], &[], error.clone(), 1007, &format!("{role:?} 6.4.3 {}", prefix.len()));
        }
    }
}

#[test]
fn utf8_close_reason_invalid_fails_1007() {
    for role in ROLES {
        for (name, bytes) in INVALID_UTF8.iter().take(8) {
            let mut p = Peer::open(role, rfc6455());
            let payload = [&[0x03, 0xe8][..], bytes].concat();
            let frame = p.frame(FIN | CLOSE, &payload[..payload.len().min(125)]);
            p.feed(&frame);
            let error = protocol(ProtocolError::InvalidUtf8);
            p.expect_failure(&[], &[], error, 1007, &format!("{role:?} {name}"));
        }
    }
}

#[test]
fn utf8_binary_messages_are_not_validated() {
    for role in ROLES {
        let mut p = Peer::open(role, rfc6455());
        for (_, bytes) in INVALID_UTF8 {
            let frame = p.frame(FIN | BINARY, bytes);
            p.feed(&frame);
            p.expect(&[Event::Binary(bytes.to_vec())], &[], &format!("{role:?}"));
        }
    }
}
