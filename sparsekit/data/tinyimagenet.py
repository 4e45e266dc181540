"""Tiny ImageNet (200 classes, 64x64 RGB) from the extracted official `tiny-imagenet-200` folder.

Layout read: `wnids.txt` (one class id per line; its order defines the label numbers),
`train/<wnid>/images/*.JPEG`, and `val/images/*.JPEG` labelled by `val/val_annotations.txt`
(tab-separated: file name, wnid, then four bounding-box numbers we ignore). The official
test folder has no labels, so the labelled val folder serves as our test set, and
validation is 10 training images per class held out with a fixed seed.

`root` may be the folder that holds `tiny-imagenet-200/`, or that folder itself.
"""
import glob
import os
from typing import List, Tuple

from PIL import Image
from torch.utils.data import Dataset

from ..core.errors import SparsekitError
from .bundle import DataBundle
from .fetch import downloading, not_found
from .images import image_splits, image_transforms
from .options import LoadOptions
from .registry import datasets
from .splits import per_class_holdout

FOLDER = "tiny-imagenet-200"
URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
ARCHIVE_MD5 = "90528d7ca1a48142e341f4ef8d21d0de"
VALIDATION_PER_CLASS = 10
SIDE = 64
PADDING = 8  # an eighth of the side, as CIFAR's 4 of 32
# Per-channel mean and std of the 100,000 training images' pixels, in [0, 1] units.
MEAN = (0.4802, 0.4481, 0.3975)
STD = (0.2770, 0.2691, 0.2821)

Sample = Tuple[str, int]  # (image path, label)


class ImageFiles(Dataset):
    """(PIL RGB image, label) read from a list of image files."""

    def __init__(self, samples: List[Sample]):
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        path, label = self.samples[index]
        try:
            with Image.open(path) as image:
                # A few Tiny ImageNet images are greyscale; models expect 3 channels.
                return image.convert("RGB"), label
        except OSError as error:
            raise SparsekitError(f"cannot read image {path!r}: {error}") from None


def _find_folder(root: str) -> str:
    if os.path.isfile(os.path.join(root, "wnids.txt")):
        return root
    return os.path.join(root, FOLDER)


def _read_wnids(folder: str) -> List[str]:
    with open(os.path.join(folder, "wnids.txt")) as handle:
        return [line.strip() for line in handle if line.strip()]


def _train_samples(folder: str, wnids: List[str]) -> List[Sample]:
    samples = []
    for label, wnid in enumerate(wnids):
        images = os.path.join(folder, "train", wnid, "images")
        paths = sorted(glob.glob(os.path.join(images, "*.JPEG")))
        if not paths:
            raise SparsekitError(f"Tiny ImageNet class {wnid} has no images in {images!r}")
        samples += [(path, label) for path in paths]
    return samples


def _val_samples(folder: str, wnids: List[str]) -> List[Sample]:
    """The official val images, labelled and ordered as `val_annotations.txt` lists them."""
    annotations = os.path.join(folder, "val", "val_annotations.txt")
    if not os.path.isfile(annotations):
        raise not_found("Tiny ImageNet validation labels", folder, "val/val_annotations.txt")
    label_of = {wnid: label for label, wnid in enumerate(wnids)}
    samples = []
    with open(annotations) as handle:
        for line_number, line in enumerate(handle, start=1):
            fields = line.rstrip("\n").split("\t")
            if fields == [""]:
                continue
            if len(fields) < 2 or fields[1] not in label_of:
                raise SparsekitError(f"{annotations!r} line {line_number} does not name an "
                                     f"image and a class of wnids.txt: {line.strip()!r}")
            samples.append((os.path.join(folder, "val", "images", fields[0]),
                            label_of[fields[1]]))
    return samples


@datasets.register("tinyimagenet")
def build_tinyimagenet(options: LoadOptions) -> DataBundle:
    options.refuse_train_subset("Tiny ImageNet")
    folder = _find_folder(options.root)
    if not os.path.isdir(folder) and options.download:
        # Imported here so `import sparsekit.data` skips torchvision.
        from torchvision.datasets.utils import download_and_extract_archive

        with downloading("Tiny ImageNet", URL, options.root):
            download_and_extract_archive(URL, options.root, md5=ARCHIVE_MD5)
    if not os.path.isfile(os.path.join(folder, "wnids.txt")):
        raise not_found("Tiny ImageNet", options.root,
                        f"{FOLDER}/ with wnids.txt, train/ and val/")

    wnids = _read_wnids(folder)
    official_train = ImageFiles(_train_samples(folder, wnids))
    official_val = ImageFiles(_val_samples(folder, wnids))
    train_indices, validation_indices = per_class_holdout(
        [label for _, label in official_train.samples], VALIDATION_PER_CLASS)
    transforms = image_transforms(SIDE, PADDING, MEAN, STD, options.augment)
    train, val, test = image_splits(official_train, train_indices, validation_indices,
                                    official_val, transforms, options)
    return DataBundle(
        name="tinyimagenet", train=train, val=val, test=test,
        num_classes=len(wnids),
        in_channels=3,
        image_size=SIDE,
        class_names=wnids,
    )
