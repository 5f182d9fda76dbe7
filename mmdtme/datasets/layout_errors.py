"""The one error every dataset gives when its files are not where its layout says (shared by all loaders)."""
import os.path as osp


def layout_message(dataset, what: str, layout: str, hint: str = '') -> str:
    """``'<Dataset>: <what>. Expected this layout under data_root=...'`` with the layout and how to point at a copy."""
    return (f'{type(dataset).__name__}: {what}. Expected this layout under data_root={dataset.data_root!r}:\n'
            f'{layout}\nPass --data-root PATH to the tool (it sets every dataloader and the DTME analysis set), or '
            f'point `data_root` in the dataset config at your copy{hint}.')


def check_root_and_split(dataset, layout: str) -> None:
    """Raise ``FileNotFoundError`` naming the data root or the split file (``dataset.ann_file``) that is missing."""
    if not osp.isdir(dataset.data_root):
        raise FileNotFoundError(layout_message(dataset, f'data root {dataset.data_root!r} does not exist', layout))
    if not osp.isfile(dataset.ann_file):
        raise FileNotFoundError(layout_message(dataset, f'split file {dataset.ann_file!r} does not exist', layout))
