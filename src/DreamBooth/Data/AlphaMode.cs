namespace DreamBooth.Data;

/// <summary>What the decoder does with transparency when it converts an image to RGB.</summary>
public enum AlphaMode
{
    /// <summary>
    /// Composite onto opaque white (what a viewer shows on a white page). The default: a cut-out subject keeps a clean,
    /// neutral background instead of whatever colour happens to be stored under the transparent pixels.
    /// </summary>
    CompositeOnWhite,

    /// <summary>
    /// Drop the alpha channel and keep the stored colour, exactly like PIL's <c>Image.convert("RGB")</c> in diffusers'
    /// train_dreambooth.py. Transparent areas then show their hidden colour (often black, sometimes garbage).
    /// </summary>
    Discard,
}
