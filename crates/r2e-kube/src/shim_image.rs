//! `r2e image shim`: the shim image the pods' init container comes from — a
//! `FROM scratch` image holding only the embedded static shim at `/r2e-shim`,
//! imported into the local Docker engine (the user pushes it to a registry
//! the nodes pull from).

use crate::pod::SHIM_IN_IMAGE;
use bollard::Docker;
use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt;
use r2e_sandbox::SandboxError;
use r2e_sandbox::shim::shim_tar_at;

/// Imports the shim image as `tag` (`REGISTRY/r2e-shim:VERSION`) and returns its id.
pub async fn build(docker: &Docker, tag: &str) -> Result<String, SandboxError> {
    let (repo, version) = r2e_sandbox::image::split_reference(tag);
    let options = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(repo)
        .tag(version)
        .changes(vec![format!(r#"ENTRYPOINT ["{SHIM_IN_IMAGE}"]"#)])
        .build();
    // The image's root filesystem: one file, `/r2e-shim`, mode 0755.
    let body = bollard::body_full(shim_tar_at(SHIM_IN_IMAGE).into());
    let mut stream = docker.create_image(Some(options), Some(body), None);
    while let Some(item) = stream.next().await {
        item.map_err(|source| SandboxError::Docker {
            context: format!("importing the shim image {tag}"),
            source,
        })?;
    }
    let id = r2e_sandbox::image::image_id(docker, tag).await?;
    id.ok_or_else(|| SandboxError::ImageNotFound {
        image: tag.to_string(),
    })
}
