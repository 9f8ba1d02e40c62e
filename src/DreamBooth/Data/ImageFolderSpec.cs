namespace DreamBooth.Data;

/// <summary>Where a set of training images comes from, and the flag names used in its error messages.</summary>
/// <param name="Directory">The directory to scan.</param>
/// <param name="Prompt">Prompt for images without a caption file; null when every image must have one.</param>
public sealed record ImageFolderSpec(string Directory, string? Prompt)
{
    /// <summary>Flag that named <see cref="Directory"/> (in messages).</summary>
    public string DirectoryFlag { get; init; } = "--instance-data-dir";

    /// <summary>Flag that gives <see cref="Prompt"/> (in messages).</summary>
    public string PromptFlag { get; init; } = "--instance-prompt";

    /// <summary>Use at most this many images (the first usable ones in file-name order), like diffusers' <c>[:class_num]</c>.</summary>
    public int? MaxImages { get; init; }

    /// <summary>Let <c>name.txt</c> beside <c>name.jpg</c> replace the prompt for that image.</summary>
    public bool UseCaptions { get; init; } = true;

    /// <summary>The subject photos: <c>--instance-data-dir</c> with <c>--instance-prompt</c>.</summary>
    public static ImageFolderSpec Instance(string directory, string? prompt) => new(directory, prompt);

    /// <summary>The prior-preservation images: <c>--class-data-dir</c> with <c>--class-prompt</c>, at most <paramref name="maxImages"/>.</summary>
    public static ImageFolderSpec Class(string directory, string? prompt, int? maxImages = null) =>
        new(directory, prompt) { DirectoryFlag = "--class-data-dir", PromptFlag = "--class-prompt", MaxImages = maxImages };
}
