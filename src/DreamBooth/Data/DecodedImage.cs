using static TorchSharp.torch;

namespace DreamBooth.Data;

/// <summary>A decoded image: upright 8-bit RGB pixels plus what the decoder learned about the file.</summary>
public sealed record DecodedImage(RgbImage Image, DecodedImageInfo Info)
{
    /// <summary>The pixels as a float32 tensor [3, H, W] in [0, 1] (torchvision <c>ToTensor</c>); the caller disposes it.</summary>
    public Tensor ToTensor() => Image.ToTensor();
}
