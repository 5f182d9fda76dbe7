"""Generate the procedural synthetic NYUD-MT dataset (see docs/dataset_prepare.md).

Example, from the repository root:
    python tools/generate_synthetic.py --out data/synthetic --num-train 400 --num-val 100 --height 96 --width 128
"""
import argparse
import sys

from mmdtme.datasets import synthetic


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Render seeded synthetic indoor scenes in the NYUD-MT layout '
                                     '(images, segmentation, depth, normals, edge, gt_sets).')
    parser.add_argument('--out', default='data/synthetic', help='output directory (default: %(default)s)')
    parser.add_argument('--num-train', type=int, default=400, help='training scenes (default: %(default)s)')
    parser.add_argument('--num-val', type=int, default=100, help='validation scenes (default: %(default)s)')
    parser.add_argument('--height', type=int, default=96, help='image height in pixels (default: %(default)s)')
    parser.add_argument('--width', type=int, default=128, help='image width in pixels (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=0, help='base seed (default: %(default)s)')
    parser.add_argument(
        '--force',
        action='store_true',
        help='replace an existing output directory with other parameters or foreign content')
    parser.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    params = dict(num_train=args.num_train, num_val=args.num_val, height=args.height, width=args.width, seed=args.seed)
    already_there = synthetic.dataset_is_complete(args.out, **params)
    try:
        root = synthetic.generate_dataset(args.out, progress=not args.no_progress, force=args.force, **params)
    except (FileExistsError, ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    state = 'already up to date' if already_there else 'written'
    print(f'Synthetic NYUD-MT dataset {state}: {root} ({args.num_train} train + {args.num_val} val scenes, '
          f'{args.height}x{args.width}, seed {args.seed})')
    print('  layout: images/ segmentation/ depth/ normals/ edge/ gt_sets/{train,val}.txt meta.json')
    return 0


if __name__ == '__main__':
    sys.exit(main())
