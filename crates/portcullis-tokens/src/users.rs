//! Users who sign in with a password (the browser sign-in flow): a TOML file of names and
//! argon2id hashes, written by `portcullis user add`, read whole at start.
//!
//! Passwords are only ever held as argon2id PHC strings. Checking an unknown name costs the same
//! as checking a known one (a dummy hash is verified), so timing does not tell which names exist.

use super::error::{FileError, UsersError};
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// The file: `[[users]]` entries.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UsersFile {
    #[serde(default)]
    pub users: Vec<UserEntry>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    /// The sign-in name; becomes the token's subject.
    pub name: String,
    /// `$argon2id$v=19$m=…,t=…,p=…$salt$hash`.
    pub password_argon2id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// The users, by name.
#[derive(Debug)]
pub struct Users {
    by_name: HashMap<String, UserEntry>,
    /// Verified in place of a missing user's hash, so both take as long.
    dummy: String,
}

impl Users {
    /// Reads and checks a users file: every hash an argon2id PHC string, names unique.
    pub fn load(path: &Path) -> Result<Users, UsersError> {
        Ok(Users {
            by_name: read_checked(path)?,
            dummy: hash_password("not a real password")?,
        })
    }

    /// Checks a users file without keeping it (for `portcullis check` and config loads).
    pub fn check_file(path: &Path) -> Result<(), UsersError> {
        read_checked(path).map(drop)
    }

    /// The user, if `password` is theirs.
    pub fn verify(&self, name: &str, password: &str) -> Option<&UserEntry> {
        let user = self.by_name.get(name);
        let hash = user.map_or(self.dummy.as_str(), |u| u.password_argon2id.as_str());
        let matches = PasswordHash::new(hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        });
        user.filter(|_| matches)
    }

    /// A user's e-mail address, if the file gives one (for UserInfo's `email` claim).
    pub fn email_of(&self, name: &str) -> Option<&str> {
        self.by_name.get(name)?.email.as_deref()
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

fn parse(path: &Path, text: &str) -> Result<UsersFile, UsersError> {
    toml::from_str(text).map_err(|source| UsersError::Syntax {
        path: path.to_path_buf(),
        source,
    })
}

fn read_checked(path: &Path) -> Result<HashMap<String, UserEntry>, UsersError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsersError::Unreadable(FileError::at(path)(e)))?;
    let file = parse(path, &text)?;
    let mut by_name = HashMap::new();
    for user in file.users {
        check_hash(&user.password_argon2id).map_err(|problem| UsersError::BadHash {
            path: path.to_path_buf(),
            user: user.name.clone(),
            problem,
        })?;
        if by_name.contains_key(&user.name) {
            return Err(UsersError::Twice {
                path: path.to_path_buf(),
                user: user.name,
            });
        }
        by_name.insert(user.name.clone(), user);
    }
    Ok(by_name)
}

fn check_hash(hash: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(hash).map_err(|_| "not a PHC password hash".to_string())?;
    if parsed.algorithm.as_str() != "argon2id" {
        return Err(format!("{} is not argon2id", parsed.algorithm));
    }
    Ok(())
}

/// An argon2id hash of `password` with a fresh salt (the crate's default, OWASP-recommended
/// parameters: 19 MiB, 2 passes, 1 lane).
pub fn hash_password(password: &str) -> Result<String, UsersError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| UsersError::Hashing(e.to_string()))
}

/// Adds (or, with `replace`, replaces) a user in the file, creating it if needed. The file is
/// written whole and owner-only ([`super::private_file`]).
pub fn add_user(
    path: &Path,
    entry_name: &str,
    password: &str,
    email: Option<String>,
    replace: bool,
) -> Result<(), UsersError> {
    if entry_name.is_empty() || entry_name.chars().any(|c| c.is_control()) {
        return Err(UsersError::BadName);
    }
    if password.chars().count() < 12 {
        return Err(UsersError::ShortPassword);
    }
    let mut file: UsersFile = match std::fs::read_to_string(path) {
        Ok(text) => parse(path, &text)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => UsersFile::default(),
        Err(e) => return Err(UsersError::Unreadable(FileError::at(path)(e))),
    };
    let existing = file.users.iter().position(|u| u.name == entry_name);
    if existing.is_some() && !replace {
        return Err(UsersError::Exists(entry_name.to_string()));
    }
    let entry = UserEntry {
        name: entry_name.to_string(),
        password_argon2id: hash_password(password)?,
        email,
    };
    match existing {
        Some(index) => file.users[index] = entry,
        None => file.users.push(entry),
    }
    let text = toml::to_string(&file).map_err(UsersError::Serialize)?;
    Ok(super::private_file::write(path, text.as_bytes())?)
}

/// A signed-in user, from the users file or the upstream provider.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub sub: String,
    pub email: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_users_sign_in_with_their_password_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        add_user(&path, "alice", "correct horse battery", None, false).unwrap();
        add_user(
            &path,
            "bob",
            "another long password",
            Some("b@x.test".into()),
            false,
        )
        .unwrap();
        let users = Users::load(&path).unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(
            users
                .verify("alice", "correct horse battery")
                .map(|u| u.name.as_str()),
            Some("alice")
        );
        assert!(users.verify("alice", "another long password").is_none());
        assert!(users.verify("carol", "correct horse battery").is_none());
        assert_eq!(
            users
                .verify("bob", "another long password")
                .and_then(|u| u.email.as_deref()),
            Some("b@x.test")
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("$argon2id$"));
        assert!(!text.contains("correct horse"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn duplicates_short_passwords_and_foreign_hashes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        add_user(&path, "alice", "correct horse battery", None, false).unwrap();
        assert!(matches!(
            add_user(&path, "alice", "correct horse battery", None, false).unwrap_err(),
            UsersError::Exists(name) if name == "alice"
        ));
        add_user(&path, "alice", "a new long password", None, true).unwrap();
        assert!(Users::load(&path)
            .unwrap()
            .verify("alice", "a new long password")
            .is_some());
        assert!(add_user(&path, "bob", "short", None, false).is_err());

        let foreign = dir.path().join("foreign.toml");
        std::fs::write(
            &foreign,
            "[[users]]\nname = \"x\"\npassword_argon2id = \"$2b$12$abcdefghijklmnopqrstuv\"\n",
        )
        .unwrap();
        assert!(Users::load(&foreign).is_err());
        let twice = dir.path().join("twice.toml");
        let hash = hash_password("correct horse battery").unwrap();
        std::fs::write(
            &twice,
            format!("[[users]]\nname = \"x\"\npassword_argon2id = \"{hash}\"\n[[users]]\nname = \"x\"\npassword_argon2id = \"{hash}\"\n"),
        )
        .unwrap();
        assert!(matches!(
            Users::load(&twice).unwrap_err(),
            UsersError::Twice { .. }
        ));
    }
}
