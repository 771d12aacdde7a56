//! Credentials out of what `git-init` shows: URLs' `user:password@`.

/// The password in a URL's `user:password@`, if it has one.
pub(super) fn password(url: &str) -> Option<String> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    (!password.is_empty()).then(|| password.to_owned())
}

/// `url` with the user and password before `@` replaced by `***`.
///
/// ```
/// use build_pod::git_init::redact_url;
/// assert_eq!(redact_url("https://me:s3cret@github.com/a/b.git"), "https://***@github.com/a/b.git");
/// assert_eq!(redact_url("https://github.com/a/b.git"), "https://github.com/a/b.git");
/// assert_eq!(redact_url("git@github.com:a/b.git"), "git@github.com:a/b.git");
/// ```
pub fn redact_url(url: &str) -> String {
    redact(url)
}

/// `text` with the `user:password@` of every `scheme://` URL in it replaced by `***@`.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let end = after
            .find(|c: char| {
                c == '/' || c == '?' || c == '#' || c.is_whitespace() || "'\"<>`".contains(c)
            })
            .unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rfind('@') {
            Some(userinfo_end) => {
                out.push_str("***");
                out.push_str(&authority[userinfo_end..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_userinfo_everywhere() {
        for (text, redacted) in [
            ("https://u:p@h/r.git", "https://***@h/r.git"),
            ("https://token@h/r", "https://***@h/r"),
            ("http://h:8080/r", "http://h:8080/r"),
            (
                "fatal: repository 'https://u:p@h/r.git/' not found",
                "fatal: repository 'https://***@h/r.git/' not found",
            ),
            (
                "a https://x:y@h b ssh://git@h:22/r",
                "a https://***@h b ssh://***@h:22/r",
            ),
            ("no url here", "no url here"),
            ("https://u:p@h", "https://***@h"),
        ] {
            assert_eq!(redact(text), redacted, "{text}");
        }
        assert_eq!(password("https://u:p4ss@h/r"), Some("p4ss".into()));
        assert_eq!(password("https://u@h/r"), None);
    }
}
