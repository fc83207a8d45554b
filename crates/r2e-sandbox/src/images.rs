//! The images r2e made, as the engine holds them: listing the ones that carry
//! a label, with the bytes each adds above the image it was made from, and
//! removing them children first so that their layers are really freed.

use crate::SandboxError;
use crate::docker::engine_classify;
use bollard::Docker;
use bollard::query_parameters::{ListImagesOptionsBuilder, RemoveImageOptionsBuilder};
use std::collections::{HashMap, HashSet};

/// One image in the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// Image id (`sha256:…`).
    pub id: String,
    /// Id of the image it was made from (committed or built on), if local.
    pub parent: Option<String>,
    /// Its references (`repo:tag`); empty for an untagged image.
    pub tags: Vec<String>,
    /// Its labels, those inherited from the parent included.
    pub labels: HashMap<String, String>,
    /// Creation time, seconds since the Unix epoch.
    pub created: i64,
    /// Size of the whole image, its parents' layers included, in bytes.
    pub size: u64,
    /// Bytes the image adds above its parent: what removing it frees when
    /// no other image is made from it.
    pub own_size: u64,
}

impl ImageInfo {
    /// The first reference, or the short id of an untagged image.
    pub fn name(&self) -> String {
        self.tags.first().cloned().unwrap_or_else(|| {
            let id = self.id.strip_prefix("sha256:").unwrap_or(&self.id);
            id[..id.len().min(12)].to_string()
        })
    }
}

/// Lists the images carrying label `label` (any value), oldest first.
pub async fn list_labelled(docker: &Docker, label: &str) -> Result<Vec<ImageInfo>, SandboxError> {
    let all = docker
        .list_images(Some(ListImagesOptionsBuilder::default().all(true).build()))
        .await
        .map_err(|e| engine_classify(e, "listing images", None))?;
    let sizes: HashMap<&str, i64> = all.iter().map(|i| (i.id.as_str(), i.size)).collect();
    let mut out: Vec<ImageInfo> = all
        .iter()
        .filter(|i| i.labels.contains_key(label))
        .map(|i| {
            let parent = (!i.parent_id.is_empty()).then(|| i.parent_id.clone());
            let below = parent
                .as_deref()
                .and_then(|p| sizes.get(p))
                .copied()
                .unwrap_or(0);
            ImageInfo {
                id: i.id.clone(),
                parent,
                tags: i
                    .repo_tags
                    .iter()
                    .filter(|t| t.as_str() != "<none>:<none>")
                    .cloned()
                    .collect(),
                labels: i.labels.clone(),
                created: i.created,
                size: i.size.max(0) as u64,
                own_size: (i.size - below).max(0) as u64,
            }
        })
        .collect();
    out.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
    Ok(out)
}

/// Orders `images` so that every image comes before the image it was made
/// from: the order in which removing them frees each layer.
pub fn children_first(images: &[ImageInfo]) -> Vec<&ImageInfo> {
    let by_id: HashMap<&str, &ImageInfo> = images.iter().map(|i| (i.id.as_str(), i)).collect();
    let depth = |img: &ImageInfo| {
        let mut seen = HashSet::new();
        let mut parent = img.parent.as_deref();
        let mut d = 0usize;
        while let Some(p) = parent.and_then(|p| by_id.get(p)) {
            if !seen.insert(p.id.as_str()) {
                break;
            }
            d += 1;
            parent = p.parent.as_deref();
        }
        d
    };
    let mut ordered: Vec<(usize, &ImageInfo)> = images.iter().map(|i| (depth(i), i)).collect();
    ordered.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id)));
    ordered.into_iter().map(|(_, i)| i).collect()
}

/// Removes one image by id, all its tags with it. An image that is already
/// gone counts as removed; one still used by a container is an error.
pub async fn remove(docker: &Docker, image: &ImageInfo) -> Result<(), SandboxError> {
    let opts = RemoveImageOptionsBuilder::default().force(true).build();
    match docker.remove_image(&image.id, Some(opts), None).await {
        Ok(_)
        | Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        Err(source) => Err(SandboxError::Docker {
            context: format!("removing image {}", image.name()),
            source,
        }),
    }
}

/// Removes `images`, children first ([`children_first`]), and returns how
/// each removal went.
pub async fn remove_all<'a>(
    docker: &Docker,
    images: &'a [ImageInfo],
) -> Vec<(&'a ImageInfo, Result<(), SandboxError>)> {
    let mut done = Vec::with_capacity(images.len());
    for image in children_first(images) {
        done.push((image, remove(docker, image).await));
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(id: &str, parent: Option<&str>) -> ImageInfo {
        ImageInfo {
            id: id.into(),
            parent: parent.map(Into::into),
            tags: Vec::new(),
            labels: HashMap::new(),
            created: 0,
            size: 0,
            own_size: 0,
        }
    }

    #[test]
    fn children_come_before_their_parents() {
        let images = [
            img("env", Some("base")),
            img("task1", Some("env")),
            img("other", None),
            img("task2", Some("env")),
        ];
        let order: Vec<&str> = children_first(&images)
            .iter()
            .map(|i| i.id.as_str())
            .collect();
        assert_eq!(order, ["task1", "task2", "env", "other"]);
    }

    #[test]
    fn an_untagged_image_is_named_by_its_short_id() {
        let mut i = img("sha256:0123456789abcdef0123", None);
        assert_eq!(i.name(), "0123456789ab");
        i.tags = vec!["r2e-gen/x:1".into()];
        assert_eq!(i.name(), "r2e-gen/x:1");
    }
}
