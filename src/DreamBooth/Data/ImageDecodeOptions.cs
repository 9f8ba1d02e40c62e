namespace DreamBooth.Data;

/// <summary>
/// Limits and conversions for <see cref="ImageDecoder"/>. The limits are checked against the file size and the image
/// header before any pixel memory is allocated, so a decompression bomb (a tiny file claiming enormous dimensions) is
/// refused at no cost.
/// </summary>
public sealed record ImageDecodeOptions
{
    /// <summary>The defaults: 64 Mi pixels (8192²), 32768 px per side, 256 MiB per file, alpha composited onto white.</summary>
    public static ImageDecodeOptions Default { get; } = new();

    /// <summary>Largest width × height accepted (after which a decode would need 4 bytes per pixel).</summary>
    public long MaxPixels { get; init; } = 8192L * 8192;

    /// <summary>Largest width or height accepted, in pixels.</summary>
    public int MaxSide { get; init; } = 32768;

    /// <summary>Largest file accepted, in bytes (the file is read into memory whole).</summary>
    public long MaxFileBytes { get; init; } = 256L << 20;

    /// <summary>How transparency becomes RGB.</summary>
    public AlphaMode Alpha { get; init; } = AlphaMode.CompositeOnWhite;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> for limits that are not positive or too large for one buffer.</summary>
    public void Validate()
    {
        // The RGBA decode buffer is one managed array, so width·height·4 must fit in an int.
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPixels, 1L, nameof(MaxPixels));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxPixels, (long)Array.MaxLength / 4, nameof(MaxPixels));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxSide, 1, nameof(MaxSide));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxFileBytes, 1L, nameof(MaxFileBytes));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxFileBytes, (long)Array.MaxLength, nameof(MaxFileBytes));
    }
}
