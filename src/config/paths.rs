//! Relative paths in a config name files beside the config, not in whatever directory the
//! gateway was started from: a committed config with `keys_file = "state/keys.json"` works the
//! same from systemd, a container or a shell. Every path-valued key is listed here, once.

use super::issuer::IssuerConfig;
use super::secret::SecretSource;
use super::Config;
use std::path::Path;
use toml::Spanned;

/// Joins every relative path of `config` to `dir` (the config file's directory).
pub fn anchor(config: &mut Config, dir: &Path) {
    let join = |path: &mut String| {
        if !path.is_empty() && Path::new(path.as_str()).is_relative() {
            *path = dir.join(path.as_str()).to_string_lossy().into_owned();
        }
    };
    let spanned = |path: &mut Spanned<String>| join(path.get_mut());
    let secret = |source: &mut SecretSource| {
        if let SecretSource::File(path) = source {
            if path.is_relative() {
                *path = dir.join(&*path);
            }
        }
    };
    for listener in &mut config.listeners {
        if let Some(tls) = &mut listener.get_mut().tls {
            spanned(&mut tls.cert);
            spanned(&mut tls.key);
        }
    }
    for upstream in config.upstreams.values_mut() {
        if let Some(ca) = upstream
            .get_mut()
            .tls
            .as_mut()
            .and_then(|t| t.ca_file.as_mut())
        {
            spanned(ca);
        }
    }
    for issuer in config.issuers.values_mut() {
        match issuer.get_mut() {
            IssuerConfig::Jwt(jwt) => {
                jwt.jwks_file.iter_mut().for_each(spanned);
                for key in &mut jwt.keys {
                    let key = key.get_mut();
                    key.pem_file.iter_mut().for_each(join);
                    key.secret.iter_mut().for_each(secret);
                }
            }
            IssuerConfig::Introspection(introspection) => {
                secret(introspection.client_secret.get_mut());
            }
            IssuerConfig::AppKeys(keys) => {
                keys.app_keys_file.iter_mut().for_each(spanned);
                for key in &mut keys.app_keys {
                    key.get_mut().key.iter_mut().for_each(secret);
                }
            }
        }
    }
    if let Some(service) = &mut config.token_service {
        let service = service.get_mut();
        service.keys_file.iter_mut().for_each(spanned);
        let store = service.store.get_mut();
        store.path.iter_mut().for_each(spanned);
        if let Some(url) = &mut store.url {
            secret(url.get_mut());
        }
        if let Some(sign_in) = &mut service.sign_in {
            let sign_in = sign_in.get_mut();
            sign_in.users_file.iter_mut().for_each(spanned);
            if let Some(oidc) = &mut sign_in.oidc {
                secret(&mut oidc.get_mut().client_secret);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_and_secret_files_are_read_beside_the_config() {
        let text = "[[listeners]]\naddress = \"127.0.0.1:1\"\ntls = { cert = \"c.pem\", key = \"/abs/k.pem\" }\n\
                    [token_service]\nissuer = \"https://gw\"\nkeys_file = \"state/keys.json\"\n\
                    store = { kind = \"redis\", url = { file = \"redis-url\" } }\n";
        let mut config = crate::config::parse(text).expect("parses");
        anchor(&mut config, Path::new("/etc/portcullis"));
        let tls = config.listeners[0].get_ref().tls.as_ref().unwrap();
        assert_eq!(tls.cert.get_ref(), "/etc/portcullis/c.pem");
        assert_eq!(tls.key.get_ref(), "/abs/k.pem");
        let service = config.token_service.as_ref().unwrap().get_ref();
        assert_eq!(
            service.keys_file.as_ref().unwrap().get_ref(),
            "/etc/portcullis/state/keys.json"
        );
        assert_eq!(
            service.store.get_ref().url.as_ref().unwrap().get_ref(),
            &SecretSource::File("/etc/portcullis/redis-url".into())
        );
    }
}
