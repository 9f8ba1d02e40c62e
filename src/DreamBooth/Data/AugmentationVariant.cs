namespace DreamBooth.Data;

/// <summary>One fixed augmentation of a resized training image: the square crop's top-left corner, and whether it is mirrored.</summary>
public readonly record struct AugmentationVariant(int CropLeft, int CropTop, bool Flip);
