namespace DreamBooth.Data;

/// <summary>What the decoder learned about a file besides its pixels.</summary>
/// <param name="Path">The file, as given to the decoder.</param>
/// <param name="Format">The format found in the content (the extension does not decide it).</param>
/// <param name="StoredWidth">Width as stored in the file, before the EXIF orientation.</param>
/// <param name="StoredHeight">Height as stored in the file, before the EXIF orientation.</param>
/// <param name="Orientation">EXIF orientation 1–8 (1 when the file has none); already applied to the pixels.</param>
/// <param name="FrameCount">Number of frames (1 for still images); only the first frame is decoded.</param>
/// <param name="HadTransparency">True when some decoded pixel was not fully opaque (see <see cref="AlphaMode"/>).</param>
/// <param name="Notes">Remarks worth telling the user (animation dropped, extension not matching the content).</param>
public sealed record DecodedImageInfo(
    string Path,
    ImageFormat Format,
    int StoredWidth,
    int StoredHeight,
    int Orientation,
    int FrameCount,
    bool HadTransparency,
    IReadOnlyList<string> Notes)
{
    /// <summary>Width of the upright image.</summary>
    public int Width => ExifOrientation.SwapsAxes(Orientation) ? StoredHeight : StoredWidth;

    /// <summary>Height of the upright image.</summary>
    public int Height => ExifOrientation.SwapsAxes(Orientation) ? StoredWidth : StoredHeight;
}
